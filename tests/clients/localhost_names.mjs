// Preloaded with `node --import` into peers the tests start, so host names under .localhost
// resolve to this machine in them as they do in browsers.
import { resolveLocalhostNames } from "./sign_in.mjs";

resolveLocalhostNames();
