#!/usr/bin/env python3
"""Writes the sample corpus compiled into the server (src/corpus/sample.json).

The corpus is the hand-written records in handwritten.json followed by a few hundred generated
ones for the same made-up bakery: cupcake orders, recipes, support tickets (readable with the
realm role `support`) and supplier invoices and sales summaries (role `finance`). The output is
deterministic: run it again and nothing changes unless this script or handwritten.json did.

    python3 scripts/sample-corpus/generate.py
"""

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent.parent / "src" / "corpus" / "sample.json"
BASE = "https://docs.example.com/bakery"

FLAVOURS = [
    ("chocolate fudge", "dark chocolate ganache"), ("double chocolate", "cocoa buttercream"),
    ("salted caramel", "caramel buttercream"), ("vanilla bean", "vanilla buttercream"),
    ("red velvet", "cream cheese frosting"), ("lemon meringue", "toasted meringue"),
    ("strawberry shortcake", "whipped cream and fresh strawberries"),
    ("carrot cake", "orange cream cheese frosting"), ("pistachio rose", "rose water buttercream"),
    ("chocolate orange", "orange zest ganache"), ("mocha", "espresso buttercream"),
    ("coconut lime", "lime curd and toasted coconut"),
    ("raspberry white chocolate", "white chocolate ganache"),
    ("cookies and cream", "crushed cookie buttercream"), ("banana toffee", "toffee sauce"),
    ("matcha", "matcha buttercream"), ("peanut butter chocolate", "peanut butter frosting"),
    ("gingerbread", "spiced cream cheese frosting"), ("pumpkin spice", "maple buttercream"),
    ("black forest", "cherry compote and chocolate curls"),
]
OCCASIONS = ["a birthday party", "a wedding reception", "an office party", "a school fair",
             "a baby shower", "a retirement lunch", "an anniversary dinner",
             "a charity bake sale", "a product launch", "a graduation party"]
FIRST = ["Maria", "James", "Priya", "Tom", "Aisha", "Lukas", "Chloe", "Kenji", "Fatima", "Oliver",
         "Sofia", "Daniel", "Mei", "Samuel", "Ines", "Noah", "Hannah", "Omar", "Grace", "Leo"]
LAST = ["Lopez", "Carter", "Shah", "Becker", "Okafor", "Novak", "Martin", "Tanaka", "Haddad",
        "Nguyen", "Rossi", "Kowalski", "Chen", "Andersen", "Silva", "Murphy", "Weber", "Ali"]
SHOPS = ["Main Street", "Riverside", "Hillside"]
STATUSES = ["confirmed", "baking", "ready", "delivered", "collected", "cancelled"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
ISSUES = [
    ("late delivery", "arrived {m} minutes after the agreed time", "We apologised and refunded the delivery fee."),
    ("wrong flavour", "contained {flavour} instead of the flavour ordered", "We baked a replacement batch the same day."),
    ("allergy question", "asked whether the {flavour} cupcakes contain nuts or gluten", "We sent the allergen sheet and suggested the gluten-free range."),
    ("damaged box", "arrived with a crushed box and {n} squashed cupcakes", "We refunded the damaged cupcakes and switched to boxes with inserts."),
    ("refund request", "was cancelled {d} days before the event", "Refunded in full under the cancellation policy."),
    ("invoice copy", "needed a VAT invoice for the company's accounts", "Sent the invoice by email."),
    ("change of pick-up time", "asked to move the pick-up to {h}:00", "Moved the pick-up; the kitchen schedule was updated."),
    ("missing candles", "was missing the {n} candles that were paid for", "Posted the candles and added a voucher."),
    ("decoration not as ordered", "had plain piping instead of the requested sugar flowers", "Offered a 30% refund, which the customer accepted."),
    ("payment failed", "could not be paid online because the card was declined twice", "Took payment by phone; the order went ahead."),
]
SUPPLIERS = [
    ("Cocoa Collective", "cocoa powder and dark chocolate callets"),
    ("Meadow Dairy", "butter, cream cheese and whole milk"),
    ("Millstone Flour", "plain flour, self-raising flour and rice flour"),
    ("Sweet Sugar Co.", "caster sugar, icing sugar and brown sugar"),
    ("Orchard Fresh", "lemons, oranges, strawberries and raspberries"),
    ("PackRight", "cupcake boxes with inserts and paper cases"),
]


def order(rng, n):
    flavour, topping = rng.choice(FLAVOURS)
    qty = rng.choice([6, 12, 12, 24, 24, 36, 48, 60, 100])
    who = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    shop, status = rng.choice(SHOPS), rng.choice(STATUSES)
    month, day = rng.randrange(12), rng.randrange(1, 29)
    occasion = rng.choice(OCCASIONS)
    price = {6: 18, 12: 33, 24: 62, 36: 90, 48: 116, 60: 140, 100: 220}[qty]
    delivery = rng.random() < 0.4
    how = "Delivery by courier" if delivery else f"Pick-up at the {shop} shop"
    notes = rng.choice(["", " The customer asked for a written message on the box.",
                        " Half of the cupcakes must be nut-free.",
                        " Please add sprinkles in the customer's team colours.",
                        " Customer is a regular; add a loyalty stamp."])
    text = (f"{who} ordered {qty} {flavour} cupcakes with {topping} for {occasion} on "
            f"{day} {MONTHS[month]} 2026. {how}. Total {price} EUR, "
            f"{'paid in advance by card' if rng.random() < 0.7 else 'to be paid on collection'}. "
            f"Status: {status}.{notes}")
    return {
        "id": f"order-{n}",
        "title": f"Order {n}: {qty} {flavour} cupcakes for {occasion}",
        "url": f"{BASE}/orders/{n}",
        "text": text,
        "metadata": {"kind": "order", "status": status, "shop": shop, "customer": who,
                     "quantity": qty, "flavour": flavour, "total_eur": price,
                     "date": f"2026-{month + 1:02d}-{day:02d}"},
    }


def recipe(flavour, topping, n_ok):
    slug = flavour.replace(" ", "-")
    text = (f"Makes 24 {flavour} cupcakes. Cream 225 g butter with 225 g caster sugar until pale, "
            f"beat in 4 eggs one at a time, then fold in 225 g self-raising flour and the "
            f"{flavour} flavouring. Fill the cases two-thirds full and bake at 180 C (160 C fan) "
            f"for 18 to 20 minutes. Cool completely, then finish with {topping}. Keeps for "
            f"{n_ok} days in an airtight box.")
    return {"id": f"recipe-{slug}", "title": f"Recipe: {flavour} cupcakes",
            "url": f"{BASE}/recipes/{slug}", "text": text,
            "metadata": {"kind": "recipe", "yield": 24}}


def ticket(rng, n, orders):
    subject, what, resolution = rng.choice(ISSUES)
    o = rng.choice(orders)
    what = what.format(m=rng.choice([20, 35, 50, 90]), flavour=o["metadata"]["flavour"],
                       n=rng.randrange(2, 7), d=rng.randrange(3, 15), h=rng.randrange(8, 18))
    status = rng.choice(["open", "resolved", "resolved", "waiting on customer"])
    return {
        "id": f"ticket-{n}", "title": f"Support ticket {n}: {subject}",
        "url": f"{BASE}/tickets/{n}",
        "text": (f"{o['metadata']['customer']} wrote about order {o['id'].split('-')[1]} "
                 f"({o['metadata']['quantity']} {o['metadata']['flavour']} cupcakes): the order "
                 f"{what}. {resolution} Ticket status: {status}."),
        "metadata": {"kind": "ticket", "status": status, "order": o["id"]},
        "acl": ["support"],
    }


def invoice(rng, n):
    name, goods = rng.choice(SUPPLIERS)
    month = rng.randrange(12)
    amount = rng.randrange(180, 2400)
    return {
        "id": f"invoice-{n}", "title": f"Invoice {n}: {name}, {MONTHS[month]} 2026",
        "url": f"{BASE}/finance/invoices/{n}",
        "text": (f"Supplier invoice from {name} for {goods}, delivered in {MONTHS[month]} 2026. "
                 f"Amount {amount} EUR excluding VAT, payable within 30 days. "
                 f"{'Paid by bank transfer.' if rng.random() < 0.7 else 'Not paid yet.'}"),
        "metadata": {"kind": "invoice", "supplier": name, "amount_eur": amount},
        "acl": ["finance"],
    }


def sales(rng, shop, month):
    revenue = rng.randrange(9000, 26000)
    best, _ = rng.choice(FLAVOURS)
    return {
        "id": f"sales-{shop.lower().replace(' ', '-')}-2026-{month + 1:02d}",
        "title": f"Sales summary: {shop}, {MONTHS[month]} 2026",
        "url": f"{BASE}/finance/sales/{shop.lower().replace(' ', '-')}/2026-{month + 1:02d}",
        "text": (f"The {shop} shop took {revenue} EUR in {MONTHS[month]} 2026 from "
                 f"{revenue // 3} cupcakes. Best seller: {best}. Ingredient costs were "
                 f"{rng.randrange(24, 38)}% of revenue and staff costs {rng.randrange(28, 40)}%."),
        "metadata": {"kind": "sales", "shop": shop, "revenue_eur": revenue},
        "acl": ["finance"],
    }


def main():
    rng = random.Random(2026)
    records = json.loads((HERE / "handwritten.json").read_text())
    taken = {r["id"] for r in records}
    orders = [order(rng, n) for n in range(1006, 1186)]
    records += orders
    records += [recipe(f, t, rng.randrange(2, 5)) for f, t in FLAVOURS
                if f"recipe-{f.replace(' ', '-')}" not in taken]
    records += [ticket(rng, n, orders) for n in range(2004, 2064)]
    records += [invoice(rng, n) for n in range(3001, 3031)]
    records += [sales(rng, shop, m) for shop in SHOPS for m in range(0, 12, 2)]
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "ids must be unique"
    OUT.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} records to {OUT}")


if __name__ == "__main__":
    main()
