// Helpers shared by the test clients that log in through the Keycloak look-alike.
import crypto from "node:crypto";
import dns from "node:dns";
import { syncBuiltinESMExports } from "node:module";

/**
 * Makes host names under .localhost resolve to this machine, as browsers (and systemd-resolved)
 * do: both `dns.lookup` and `dns.promises.lookup`, for code that imports either.
 */
export function resolveLocalhostNames() {
  const lookup = dns.lookup;
  dns.lookup = function (host, options, callback) {
    if (typeof options === "function") [callback, options] = [options, {}];
    if (!host.endsWith(".localhost")) return lookup.call(this, host, options, callback);
    if (options?.all) return callback(null, [{ address: "127.0.0.1", family: 4 }]);
    return callback(null, "127.0.0.1", 4);
  };
  const lookupPromise = dns.promises.lookup;
  dns.promises.lookup = function (host, options) {
    if (!host.endsWith(".localhost")) return lookupPromise.call(this, host, options);
    const one = { address: "127.0.0.1", family: 4 };
    return Promise.resolve(options?.all ? [one] : one);
  };
  syncBuiltinESMExports();
}

/**
 * An authorization request with PKCE S256, as ChatGPT makes one: the URL to send the browser
 * to, and the verifier the code exchange needs.
 */
export function pkceAuthorization(endpoint, { clientId, redirectUri, scope, resource }) {
  const verifier = crypto.randomBytes(32).toString("base64url");
  const url = new URL(endpoint);
  for (const [k, v] of Object.entries({
    response_type: "code",
    client_id: clientId,
    redirect_uri: redirectUri,
    scope,
    resource,
    state: crypto.randomBytes(8).toString("hex"),
    code_challenge: crypto.createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  })) {
    url.searchParams.set(k, v);
  }
  return { url, verifier };
}

/**
 * Signs in at the authorization server as `user`, like a browser: follows the redirects with a
 * cookie jar and submits the login and consent forms, until the server redirects to a URL
 * starting with `redirectUrl`. Returns the authorization code from it.
 */
export async function signIn(authorizationUrl, user, redirectUrl) {
  const jar = new Map();
  let next = authorizationUrl.href;
  let body;
  for (let hop = 0; hop < 10; hop++) {
    const response = await fetch(next, {
      method: body ? "POST" : "GET",
      redirect: "manual",
      headers: {
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; "),
        ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}),
      },
      body,
    });
    body = undefined;
    for (const c of response.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const at = pair.indexOf("=");
      jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
    const location = response.headers.get("location");
    if (location) {
      const target = new URL(location, next);
      if (target.href.startsWith(redirectUrl)) {
        const error = target.searchParams.get("error");
        if (error) throw new Error(`authorization failed: ${error} ${target.searchParams.get("error_description")}`);
        return target.searchParams.get("code");
      }
      next = target.href;
      continue;
    }
    const html = await response.text();
    const action = html.match(/<form[^>]*action="([^"]+)"/)?.[1];
    if (!action) throw new Error(`no redirect and no form at ${next} (${response.status}): ${html.slice(0, 300)}`);
    next = new URL(action.replaceAll("&amp;", "&"), next).href;
    body = html.includes('name="password"')
      ? new URLSearchParams({ prompt: "login", login: user, password: "any" }).toString()
      : new URLSearchParams({ prompt: "consent" }).toString();
  }
  throw new Error("too many redirects while signing in");
}
