// Debian's Chromium as the browser tests drive it (CHROMIUM names another binary).
import crypto from "node:crypto";
import fs from "node:fs";
import { chromium } from "playwright-core";

/**
 * Launches Chromium trusting exactly the certificate in LEAF_FILE (its public key, not a whole
 * CA), with every name but localhost, *.localhost and 127.0.0.1 unresolvable, so a test never
 * waits on the network: the look-alike's login page imports a font from fonts.googleapis.com,
 * and where DNS does not answer, its page load (which a sign-in waits for) stalls.
 */
export async function launchChromium(leafFile) {
  const spki = new crypto.X509Certificate(fs.readFileSync(leafFile)).publicKey.export({ type: "spki", format: "der" });
  const pin = crypto.createHash("sha256").update(spki).digest("base64");
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      `--ignore-certificate-errors-spki-list=${pin}`,
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE *.localhost, EXCLUDE 127.0.0.1",
    ],
  });
}
