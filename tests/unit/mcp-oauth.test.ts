// The OAuth provider IronClaw gives the SDK: tokens kept owner-only, a pre-registered client
// never forgotten, and the browser flow's loopback redirect (127.0.0.1, state checked).
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { IronclawOAuthProvider, oauthStoreFile } from "../../actors/mcp/mcp-oauth.ts";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const configHome = () => {
  const d = mkdtempSync(join(tmpdir(), "ironclaw-oauth-"));
  dirs.push(d);
  return d;
};

describe("IronclawOAuthProvider", () => {
  it("keeps client and tokens in a 0600 file in a 0700 directory, and reads them back", () => {
    const file = oauthStoreFile(configHome(), "remote", new URL("https://mcp.example/mcp"));
    const first = new IronclawOAuthProvider({ mode: "headless", file });
    first.saveClientInformation({ client_id: "dyn-1" });
    first.saveTokens({ access_token: "secret-token", token_type: "Bearer" });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(file, "..")).mode & 0o777).toBe(0o700);
    const again = new IronclawOAuthProvider({ mode: "headless", file });
    expect(again.tokens()).toEqual({ access_token: "secret-token", token_type: "Bearer" });
    expect(again.clientInformation()).toEqual({ client_id: "dyn-1" });
    again.invalidateCredentials("tokens");
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ client: { client_id: "dyn-1" } });
  });

  it("keeps one server's tokens apart from another URL under the same name", () => {
    const home = configHome();
    const mine = oauthStoreFile(home, "github", new URL("https://api.githubcopilot.com/mcp/"));
    expect(oauthStoreFile(home, "github", new URL("https://api.githubcopilot.com/mcp/?x=1"))).toBe(mine); // the query is not the endpoint
    expect(oauthStoreFile(home, "github", new URL("https://evil.example/mcp/"))).not.toBe(mine);
    expect(oauthStoreFile(home, "github", new URL("https://api.githubcopilot.com/other/"))).not.toBe(mine);
  });

  it("keeps a pre-registered client even when the server says to forget the client", () => {
    const provider = new IronclawOAuthProvider({ mode: "headless", preRegistered: { clientId: "pre", clientSecret: "s" } });
    provider.invalidateCredentials("all");
    expect(provider.clientInformation()).toEqual({ client_id: "pre", client_secret: "s" });
  });

  it("waits for the browser's redirect on 127.0.0.1, ignores one without its state, and fails on the server's refusal", async () => {
    let shown: URL | undefined;
    const provider = new IronclawOAuthProvider({ mode: "browser", onAuthorizationUrl: (url) => (shown = url) });
    await provider.prepare();
    const redirect = new URL(provider.redirectUrl);
    expect(redirect.hostname).toBe("127.0.0.1");
    const state = provider.state();
    const waiting = provider.redirectToAuthorization(new URL("https://as.example/authorize?x=1"));
    expect(shown?.href).toBe("https://as.example/authorize?x=1");
    // A redirect without our state (someone guessing the port) is refused; the flow goes on.
    const forged = await fetch(`${redirect.href}?code=evil&state=wrong`);
    expect(forged.status).toBe(400);
    const denied = waiting.then(
      () => "authorized",
      (e: Error) => e.message,
    );
    expect((await fetch(`${redirect.href}?error=access_denied&state=${state}`)).status).toBe(400);
    expect(await denied).toBe("OAuth authorization failed: access_denied");
    expect(provider.takeCode()).toBeUndefined();
    provider.close();

    const second = new IronclawOAuthProvider({ mode: "browser" });
    await second.prepare();
    const ok = second.redirectToAuthorization(new URL("https://as.example/authorize"));
    const res = await fetch(`${second.redirectUrl}?code=the-code&state=${second.state()}`);
    expect(res.status).toBe(200);
    await ok;
    expect(second.takeCode()).toBe("the-code");
    expect(second.takeCode()).toBeUndefined();
    second.close();
  });
});
