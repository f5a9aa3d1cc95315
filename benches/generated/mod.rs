//! Generated documents for the benchmarks: words drawn from a skewed vocabulary so that common and
//! rare words behave as in real text; one document in ten carries an `acl`.

use mcp_resource_server::corpus::Document;

/// A small deterministic generator (xorshift64*), so every run indexes the same documents.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A word index skewed towards the start of the vocabulary (roughly Zipf-like).
    pub(crate) fn skewed(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) as usize).saturating_sub(1).min(n - 1)
    }
}

pub(crate) fn vocabulary() -> Vec<String> {
    const ROOTS: &[&str] = &[
        "cupcake",
        "order",
        "chocolate",
        "vanilla",
        "delivery",
        "invoice",
        "customer",
        "refund",
        "wedding",
        "birthday",
        "oven",
        "flour",
        "butter",
        "sugar",
        "caramel",
        "lemon",
        "ticket",
        "supplier",
        "shop",
        "frosting",
        "recipe",
        "allergy",
        "gluten",
        "box",
        "courier",
        "payment",
        "schedule",
        "kitchen",
        "staff",
        "policy",
        "price",
        "discount",
        "event",
        "party",
        "school",
    ];
    let mut words: Vec<String> = ROOTS.iter().map(|w| w.to_string()).collect();
    // Made-up words fill the long tail of a real vocabulary.
    let syllables = [
        "ka", "lo", "mi", "ren", "tu", "sa", "vel", "dor", "pi", "quen", "bra", "zu",
    ];
    for i in 0..20_000usize {
        let mut w = String::new();
        let mut n = i;
        for _ in 0..3 {
            w.push_str(syllables[n % syllables.len()]);
            n /= syllables.len();
        }
        w.push_str(&(i / 1728).to_string());
        words.push(w);
    }
    words
}

pub(crate) fn document(rng: &mut Rng, words: &[String], n: usize) -> Document {
    let mut sentence = |len: usize| -> String {
        (0..len)
            .map(|_| words[rng.skewed(words.len())].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let title = sentence(6);
    let text = sentence(60);
    Document {
        id: format!("doc-{n}"),
        title,
        text,
        url: format!("https://docs.example.com/doc/{n}"),
        metadata: None,
        acl: if n.is_multiple_of(10) {
            vec!["finance".into()]
        } else {
            Vec::new()
        },
    }
}

/// The sizes named on the command line, or `default`.
pub(crate) fn sizes(default: &[usize]) -> Vec<usize> {
    let named: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if named.is_empty() {
        default.to_vec()
    } else {
        named
    }
}
