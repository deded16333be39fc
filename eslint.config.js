import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "test-artifacts/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        Buffer: "readonly",
        console: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        performance: "readonly",
        NodeJS: "readonly",
        URL: "readonly",
        AbortController: "readonly",
        AbortSignal: "readonly",
        setImmediate: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-empty-function": "off",
    },
  },
  // The layers (docs/architecture.md): core/ is the vocabulary and imports nothing of ours and no
  // I/O; machines/ are pure statecharts over core/; actors/ are the effects and never reach up
  // into src/, the composition root. An import that runs back up fails `npm run lint`
  // (tests/unit/layering.test.ts shows it does).
  {
    files: ["core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { regex: "^\\.\\./", message: "core/ is the bottom layer: it imports nothing of ours outside core/." },
            { regex: "^node:(fs|fs/promises|child_process|net|http|https|dgram|worker_threads|cluster)$", message: "core/ is pure: I/O belongs in actors/ or src/." },
          ],
        },
      ],
    },
  },
  {
    files: ["machines/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { regex: "^\\.\\./(?!core/)", message: "machines/ are pure statecharts: they import only core/ (and each other)." },
            { regex: "^node:", message: "machines/ do no I/O." },
          ],
        },
      ],
    },
  },
  {
    files: ["actors/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ regex: "^(\\.\\./)+src/", message: "actors/ never import src/: take what you need as input, or move it down to core/." }] },
      ],
    },
  },
  {
    // Types tell the truth: an opaque handle is opened only by the module that owns it.
    files: ["core/**/*.ts", "machines/**/*.ts", "actors/**/*.ts", "src/**/*.ts", "guest-agent/**/*.ts"],
    ignores: ["actors/sandbox/sandbox-handle.ts", "actors/mcp/session-handle.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "TSAsExpression > TSAsExpression.expression[typeAnnotation.type='TSUnknownKeyword']",
          message: "No `as unknown as`: give the value its true type, or open a handle through the module that owns it (core/handles.ts).",
        },
      ],
    },
  },
  {
    // The inspector's page runs in a browser.
    files: ["src/inspector/ui/**"],
    languageOptions: {
      globals: {
        window: "readonly",
        document: "readonly",
        location: "readonly",
        history: "readonly",
        WebSocket: "readonly",
        crypto: "readonly",
        DOMParser: "readonly",
        requestAnimationFrame: "readonly",
        URLSearchParams: "readonly",
        Node: "readonly",
        Element: "readonly",
        HTMLElement: "readonly",
        HTMLElementTagNameMap: "readonly",
        HTMLInputElement: "readonly",
        HTMLButtonElement: "readonly",
        HTMLMetaElement: "readonly",
        SVGSVGElement: "readonly",
        DocumentFragment: "readonly",
        Event: "readonly",
      },
    },
  },
);
