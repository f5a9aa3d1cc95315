// Checks a Keycloak realm file against Keycloak's own published types: the representation
// interfaces shipped in @keycloak/keycloak-admin-client (RealmRepresentation and the types it
// names). Keycloak's import fails on a field it does not know, so every key of the file must be
// declared by the type of the place it appears in. Where the package types a field only as
// `any[]`, the element type it ships for that field is named below (REFINED).
//
// Usage: node realm_keys.mjs REALM_FILE. Prints {"checked": N, "undeclared": [paths]} and exits 0;
// exits 2 if the types cannot be read.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import ts from "typescript";

const require = createRequire(import.meta.url);
const defs = path.dirname(require.resolve("@keycloak/keycloak-admin-client/lib/defs/realmRepresentation.d.ts"));

// RealmRepresentation declares these as `any[]` or `Record<string, any>`; the package ships the
// element types Keycloak's RealmRepresentation.java uses, except ScopeMappingRepresentation,
// which it does not ship at all: that one is written out here from Keycloak's Java class.
const source = `
import type RealmRepresentation from "${defs}/realmRepresentation.js";
import type ClientScopeRepresentation from "${defs}/clientScopeRepresentation.js";
import type AuthenticationFlowRepresentation from "${defs}/authenticationFlowRepresentation.js";
import type ProtocolMapperRepresentation from "${defs}/protocolMapperRepresentation.js";
interface ScopeMappingRepresentation { self?: string; client?: string; clientTemplate?: string; clientScope?: string; roles?: string[] }
export type RealmFile = Omit<RealmRepresentation, "clientScopes" | "scopeMappings" | "clientScopeMappings" | "authenticationFlows" | "protocolMappers"> & {
  clientScopes?: ClientScopeRepresentation[];
  scopeMappings?: ScopeMappingRepresentation[];
  clientScopeMappings?: { [client: string]: ScopeMappingRepresentation[] };
  authenticationFlows?: AuthenticationFlowRepresentation[];
  protocolMappers?: ProtocolMapperRepresentation[];
};
`;

const file = path.join(defs, "__realm_file_check.ts");
const host = ts.createCompilerHost({ strict: true });
const readFile = host.readFile.bind(host);
host.readFile = (name) => (path.resolve(name) === file ? source : readFile(name));
const fileExists = host.fileExists.bind(host);
host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
const program = ts.createProgram([file], { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }, host);
const checker = program.getTypeChecker();
const sf = program.getSourceFile(file);
const alias = sf.statements.find((s) => ts.isTypeAliasDeclaration(s) && s.name.text === "RealmFile");
if (!alias) {
  console.error("realm_keys: cannot read the representation types");
  process.exit(2);
}
const problems = ts.getPreEmitDiagnostics(program).filter((d) => d.file === sf);
if (problems.length) {
  console.error(problems.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")).join("\n"));
  process.exit(2);
}
const realmType = checker.getTypeAtLocation(alias.name);

const open = (t) => t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown) || checker.typeToString(t) === "object";
const objectParts = (t) => (t.isUnion() ? t.types : [t]).filter((u) => u.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection));

let checked = 0;
const undeclared = [];
function walk(value, type, where) {
  if (value === null || typeof value !== "object" || open(type)) return;
  const parts = objectParts(type);
  if (parts.length === 0) return;
  if (Array.isArray(value)) {
    const element = parts.map((p) => (checker.isArrayType(p) ? checker.getTypeArguments(p)[0] : null)).find(Boolean);
    // A map typed with single values but holding lists (Keycloak's multivalued maps) is read
    // element by element against the value type.
    value.forEach((v, i) => walk(v, element ?? type, `${where}[${i}]`));
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    checked++;
    let member = null;
    for (const p of parts) {
      const prop = checker.getPropertyOfType(p, key);
      if (prop) { member = checker.getTypeOfSymbol(prop); break; }
      const index = checker.getIndexTypeOfType(p, ts.IndexKind.String);
      if (index) { member = index; break; }
    }
    if (!member) { undeclared.push(`${where}.${key}`); continue; }
    walk(v, checker.getNonNullableType(member), `${where}.${key}`);
  }
}
walk(JSON.parse(fs.readFileSync(process.argv[2], "utf8")), realmType, "$");
console.log(JSON.stringify({ checked, undeclared }));
