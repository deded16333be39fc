// Firecracker's API description (../shared/reference/firecracker-api.yaml, beside the repo,
// never copied into it) as a request validator for the contract tests.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { parse } from "yaml";

export const SPEC_PATH = join(import.meta.dirname, "..", "..", "..", "shared", "reference", "firecracker-api.yaml");
export const specPresent = existsSync(SPEC_PATH);
if (!specPresent) console.warn(`skipping Firecracker contract tests: ${SPEC_PATH} is absent (it lives in shared/, beside the repository)`);

interface Operation {
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: { $ref?: string } }>;
}
interface Spec {
  paths: Record<string, Record<string, Operation>>;
  definitions: Record<string, { properties?: object }>;
}

/** Returns the problems with one request, or [] when Firecracker's API accepts its path, method and body. */
export function createValidator(): (method: string, path: string, body: unknown) => string[] {
  const spec = parse(readFileSync(SPEC_PATH, "utf8")) as Spec;
  const ajv = new Ajv({ strict: false, allErrors: true });
  // Swagger's integer formats: the `type: integer` beside them already says what is checked.
  for (const format of ["int32", "int64"]) ajv.addFormat(format, true);
  // Swagger 2.0 keeps schemas under #/definitions: register them under the document's own refs.
  ajv.addSchema({ $id: "firecracker", definitions: spec.definitions });

  return (method, path, body) => {
    const found = Object.entries(spec.paths).find(([template, ops]) => new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`).test(path) && ops[method.toLowerCase()]);
    if (!found) return [`${method} ${path} is not in Firecracker's API`];
    const op = found[1][method.toLowerCase()]!;
    const param = op.parameters?.find((p) => p.in === "body");
    if (!param) return body === undefined ? [] : [`${method} ${path} takes no body`];
    if (body === undefined) return param.required ? [`${method} ${path} needs a body`] : [];
    const schema = JSON.parse(JSON.stringify(param.schema).replaceAll('"#/definitions/', '"firecracker#/definitions/'));
    const validate = ajv.compile(schema);
    const problems = validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || "body"} ${e.message}`);
    // Nothing the API does not know: a misspelt optional field would otherwise pass silently.
    const known = Object.keys(spec.definitions[param.schema?.$ref?.split("/").pop() ?? ""]?.properties ?? {});
    for (const k of Object.keys(body as object)) if (!known.includes(k)) problems.push(`unknown field ${k}`);
    return problems;
  };
}

/** A VM configuration like the driver's, for the plans under test. */
export const vmConfig = {
  kernelPath: "/var/lib/ironclaw/images/v1/vmlinuz",
  initrdPath: "/var/lib/ironclaw/images/v1/initrd.img",
  bootArgs: "console=ttyS0 reboot=k panic=1 quiet",
  rootfsPath: "/var/lib/ironclaw/images/v1/rootfs.ext4",
  vcpus: 1,
  memoryMiB: 512,
  vsockPath: "/tmp/ironclaw-0/x1/vsock.sock",
  guestCid: 3,
};
