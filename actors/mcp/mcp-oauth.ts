// OAuth for remote MCP servers, through the SDK's client flow (discovery, dynamic client
// registration or a pre-registered client, authorization code with PKCE, token refresh): this
// file is only the OAuthClientProvider the SDK asks for — where clients and tokens are kept
// (a 0600 file per server under the XDG config dir, or memory), and how the user's browser
// gets to the authorization page and back (a loopback redirect on 127.0.0.1, or, for
// unattended runs such as the conformance suite, following the redirect headlessly).
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";

interface Stored {
  client?: OAuthClientInformationMixed;
  tokens?: OAuthTokens;
}

/**
 * Where a server's OAuth client and tokens are kept, owner-only: per name *and* URL. Keyed by
 * name alone, a token the user got for their `github` server would be sent to whatever URL the
 * next entry called `github` names (a project's, once trusted, or an edited config).
 */
export function oauthStoreFile(configHome: string, server: string, url: URL): string {
  const endpoint = createHash("sha256").update(`${url.origin}${url.pathname}`).digest("hex").slice(0, 16);
  return join(configHome, "ironclaw", "mcp-oauth", `${server}-${endpoint}.json`);
}

export interface OAuthOptions {
  /** The file to keep client and tokens in; none: memory only (this process). */
  readonly file?: string;
  /** A client registered with the authorization server beforehand (no dynamic registration). */
  readonly preRegistered?: { readonly clientId: string; readonly clientSecret?: string };
  readonly scope?: string;
  /** A client ID metadata document URL, for servers that accept one instead of registration. */
  readonly clientMetadataUrl?: string;
  /**
   * "browser": show the user the authorization URL and wait on a loopback redirect;
   * "headless": fetch the authorization URL and read the code from its redirect (test servers
   * and pre-approved clients that answer without a login page).
   */
  readonly mode: "browser" | "headless";
  /** Told the URL to open (browser mode). */
  readonly onAuthorizationUrl?: (url: URL) => void;
  readonly redirectUrl?: string;
}

export class IronclawOAuthProvider implements OAuthClientProvider {
  readonly clientMetadataUrl?: string;
  private readonly options: OAuthOptions;
  private stored: Stored;
  private verifier: string | undefined;
  private expectedState: string | undefined;
  private code: string | undefined;
  private listener: { server: Server; port: number; code: Promise<string> } | undefined;

  constructor(options: OAuthOptions) {
    this.options = options;
    if (options.clientMetadataUrl) this.clientMetadataUrl = options.clientMetadataUrl;
    this.stored = this.load();
    if (options.preRegistered) {
      this.stored.client = { client_id: options.preRegistered.clientId, ...(options.preRegistered.clientSecret && { client_secret: options.preRegistered.clientSecret }) };
    }
  }

  get redirectUrl(): string {
    if (this.options.redirectUrl) return this.options.redirectUrl;
    return this.options.mode === "headless" ? "http://localhost:3000/callback" : `http://127.0.0.1:${this.listener?.port ?? 0}/callback`;
  }

  get clientMetadata(): OAuthClientMetadata {
    // No scope here: the SDK takes it from the server's challenge or its metadata, and a fixed
    // one would ask for more (or less) than the server wants.
    return {
      client_name: "IronClaw",
      redirect_uris: [this.redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      ...(this.options.scope && { scope: this.options.scope }),
    };
  }

  state(): string {
    this.expectedState = randomBytes(16).toString("base64url");
    return this.expectedState;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.stored.client;
  }

  saveClientInformation(client: OAuthClientInformationMixed): void {
    this.stored.client = client;
    this.save();
  }

  tokens(): OAuthTokens | undefined {
    return this.stored.tokens;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.stored.tokens = tokens;
    this.save();
  }

  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }

  codeVerifier(): string {
    if (!this.verifier) throw new Error("OAuth: no PKCE code verifier was saved for this authorization");
    return this.verifier;
  }

  invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier" | "discovery"): void {
    if (scope === "all" || scope === "tokens") delete this.stored.tokens;
    if ((scope === "all" || scope === "client") && !this.options.preRegistered) delete this.stored.client;
    if (scope === "all" || scope === "verifier") this.verifier = undefined;
    this.save();
  }

  /** Starts the loopback listener before the SDK builds the redirect URL (browser mode). */
  async prepare(): Promise<void> {
    if (this.options.mode !== "browser" || this.listener || this.options.redirectUrl) return;
    let deliver!: (code: string) => void;
    let fail!: (err: Error) => void;
    const code = new Promise<string>((resolve, reject) => ((deliver = resolve), (fail = reject)));
    code.catch(() => {});
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      if (url.pathname !== "/callback") return void res.writeHead(404).end();
      // A request without our state is not the authorization server's answer (another local
      // process guessing the port): refuse it and keep waiting for the real one.
      if (url.searchParams.get("state") !== this.expectedState) return void res.writeHead(400, { "content-type": "text/plain" }).end("state mismatch\n");
      const error = url.searchParams.get("error");
      const got = url.searchParams.get("code");
      res
        .writeHead(got && !error ? 200 : 400, { "content-type": "text/plain" })
        .end(got && !error ? "IronClaw is authorized. You can close this tab.\n" : `Authorization failed: ${error ?? "no code"}\n`);
      if (got && !error) deliver(got);
      else fail(new Error(`OAuth authorization failed: ${error ?? "the redirect carried no code"}`));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    server.unref();
    this.listener = { server, port: (server.address() as { port: number }).port, code };
  }

  async redirectToAuthorization(url: URL): Promise<void> {
    if (this.options.mode === "headless") {
      const res = await fetch(url, { redirect: "manual" });
      const location = res.headers.get("location");
      if (!location) throw new Error(`OAuth: the authorization endpoint answered ${res.status} without a redirect (it needs a browser: run interactively)`);
      this.code = this.codeFrom(new URL(location));
      return;
    }
    if (!this.listener) throw new Error("OAuth: no loopback listener for the redirect (prepare() was not called)");
    this.options.onAuthorizationUrl?.(url);
    this.code = await this.listener.code;
  }

  /** The authorization code the last redirect delivered, once. */
  takeCode(): string | undefined {
    const code = this.code;
    this.code = undefined;
    return code;
  }

  close(): void {
    this.listener?.server.close();
    this.listener = undefined;
  }

  private codeFrom(redirect: URL): string {
    const error = redirect.searchParams.get("error");
    if (error) throw new Error(`OAuth authorization failed: ${error}`);
    if (redirect.searchParams.get("state") !== this.expectedState) throw new Error("OAuth: the redirect's state did not match (possible CSRF)");
    const code = redirect.searchParams.get("code");
    if (!code) throw new Error("OAuth: the redirect carried no authorization code");
    return code;
  }

  private load(): Stored {
    if (!this.options.file) return {};
    try {
      return JSON.parse(readFileSync(this.options.file, "utf8")) as Stored;
    } catch {
      return {};
    }
  }

  private save(): void {
    const file = this.options.file;
    if (!file) return;
    mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    // Tokens: owner-only from the first byte.
    writeFileSync(tmp, JSON.stringify(this.stored), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  }
}
