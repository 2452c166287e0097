// Type declarations for Kiln scripts: the Kiln-specific globals (registration, `ctx`, `kv`,
// `fetch`'s errors, `files`, `render`, `markdown`, `wasm`, `HttpError`, `KilnError` and its
// subclasses, `h`/`Fragment`). The Web-standard globals Kiln provides (`Request`, `Response`,
// `Headers`, `URL`, `fetch`, `TextEncoder`, `AbortController`, `crypto`, `console`, …) are
// typed by TypeScript's own `webworker` library. A `tsconfig.json` for a script directory:
//
//   {
//     "compilerOptions": {
//       "target": "es2022", "module": "es2022",
//       "lib": ["es2022", "webworker", "webworker.asynciterable"],
//       "strict": true, "noEmit": true, "types": [],
//       "jsx": "react", "jsxFactory": "h", "jsxFragmentFactory": "Fragment"
//     },
//     "include": ["**/*.ts", "**/*.tsx", "kiln.d.ts"]
//   }
//
// Kiln strips types with oxc and never type-checks; these declarations are for your editor and
// `tsc --noEmit`. Documentation: docs/scripts.md.

export {};

declare global {
  // ---------------------------------------------------------------- registration (init only)

  /** HTTP methods a route may be registered for (any case); `ANY` matches every method. */
  type KilnMethod =
    | "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" | "ANY"
    | (string & {});

  /** Who may call a route; Kiln checks it before the handler runs. */
  type KilnAuth = "public" | "user" | "apiKey" | `role:${string}`;

  /** Per-route CORS: `true` is any origin without credentials. */
  type KilnCors =
    | boolean
    | {
        origins: string[] | "*";
        methods?: string[];
        headers?: string[];
        exposeHeaders?: string[];
        credentials?: boolean;
        maxAge?: number;
      };

  interface KilnRouteOptions {
    /** Default `"public"`. */
    auth?: KilnAuth;
    /** Largest request body this route accepts, in bytes (at most the server's
     * `http.max_body_bytes`); larger requests get 413 before the handler runs. */
    maxBodyBytes?: number;
    cors?: KilnCors;
    summary?: string;
    description?: string;
    tags?: string[];
    requestSchema?: unknown;
    responseSchema?: unknown;
  }

  /** What a handler may return: a `Response` is sent as is, a string is `text/plain`, JSX is
   * `text/html`, `undefined` is 204, bytes are `application/octet-stream`, anything else JSON. */
  type KilnHandlerResult =
    | Response
    | string
    | KilnHtml
    | ArrayBuffer
    | ArrayBufferView
    | undefined
    | null
    | number
    | boolean
    | object;

  type KilnWebHandler = (
    request: Request,
    ctx: KilnContext,
  ) => KilnHandlerResult | Promise<KilnHandlerResult>;

  /** Registers an HTTP route (only inside `init()`). Paths: literal segments, `:param`, and a
   * trailing `*` (the rest is `ctx.params["*"]`). */
  function registerWebHandler(
    method: KilnMethod,
    path: string,
    handler: KilnWebHandler,
    options?: KilnRouteOptions,
  ): void;

  /** Serves a route with a WebAssembly module of the bundle, CGI-style (see docs/wasm.md). */
  function registerWasmHandler(
    method: KilnMethod,
    path: string,
    wasmFile: string,
    options?: KilnRouteOptions,
  ): void;

  // ---------------------------------------------------------------- the invocation's context

  /** The signed-in user, or the owner of the API key used. Frozen. */
  interface KilnUser {
    readonly id: number;
    readonly email: string;
    readonly name: string | null;
    readonly roles: readonly string[];
    hasRole(role: string): boolean;
  }

  /** The API key the call was made with. Frozen. */
  interface KilnApiKey {
    readonly id: number;
    readonly prefix: string;
    readonly name: string;
    readonly tier: string;
    readonly scopes: readonly string[];
  }

  interface KilnContext {
    /** Path parameters (`:name`, and `*` for a trailing wildcard). */
    readonly params: Readonly<Record<string, string>>;
    /** First value of each query parameter. */
    readonly query: Readonly<Record<string, string>>;
    /** Also in the response's `x-request-id` and on every log line. */
    readonly requestId: string;
    /** The script's variables and secrets. Frozen. */
    readonly env: Readonly<Record<string, string>>;
    readonly user: KilnUser | null;
    readonly apiKey: KilnApiKey | null;
  }

  // ---------------------------------------------------------------- errors

  /** Thrown from a handler: answers `{"error": {code, message, request_id}}` with `status`. */
  class HttpError extends Error {
    constructor(status: number, message?: string, options?: { code?: string; cause?: unknown });
    readonly status: number;
    readonly code: string;
  }

  /** Errors of Kiln's platform APIs; `code` is stable and documented in docs/scripts.md. */
  class KilnError extends Error {
    constructor(code: string, message?: string, options?: { cause?: unknown });
    readonly code: string;
  }
  /** `kv` / `kv.user` failures (`KV_QUOTA_EXCEEDED`, `KV_NOT_A_NUMBER`, …). */
  class KvError extends KilnError {}
  /** `wasm.run` failures (`WASM_NOT_FOUND`, `TIME_LIMIT_EXCEEDED`, `TRAP`, …). */
  class WasmError extends KilnError {}
  /** `fetch` failures other than network errors (`FETCH_TIMEOUT`, `FETCH_LIMIT_EXCEEDED`, …). */
  class FetchError extends KilnError {}
  /** A `fetch` the egress policy refused (`EGRESS_DENIED`). */
  class EgressDeniedError extends KilnError {}
  /** `files` failures (`FILES_NOT_FOUND`, `FILES_INVALID_PATH`, `FILES_NOT_TEXT`). */
  class FilesError extends KilnError {}
  /** `render` failures (`TEMPLATE_NOT_FOUND`, `TEMPLATE_ERROR`). */
  class TemplateError extends KilnError {}
  /** `db` failures (`DB_SQL_ERROR`, `DB_TIMEOUT`, `DB_QUOTA_EXCEEDED`, …). */
  class DbError extends KilnError {}

  // ---------------------------------------------------------------- kv

  type KilnJson = null | boolean | number | string | KilnJson[] | { [key: string]: KilnJson };

  interface KilnKv {
    get<T = KilnJson>(key: string): Promise<T | null>;
    /** At most 1000 keys; `null` where absent. */
    getMany<T = KilnJson>(keys: string[]): Promise<(T | null)[]>;
    /** `ttl` in seconds. */
    set(key: string, value: unknown, options?: { ttl?: number }): Promise<void>;
    /** Whether the key existed. */
    delete(key: string): Promise<boolean>;
    /** Keys in ascending order; `cursor` is `null` on the last page. */
    list(options?: { prefix?: string; limit?: number; cursor?: string | null }): Promise<{
      keys: string[];
      cursor: string | null;
    }>;
    /** Atomic; an absent key counts as 0. Resolves to the new number. */
    increment(key: string, by?: number): Promise<number>;
  }

  /** The script's key/value storage; `kv.user` is the signed-in user's own space. */
  const kv: KilnKv & { readonly user: KilnKv };

  // ---------------------------------------------------------------- db

  /** A statement parameter: bound, never interpolated. Booleans are stored as 1/0. */
  type KilnSqlValue = number | string | boolean | null | bigint | ArrayBuffer | ArrayBufferView;
  /** A result value: integers beyond ±(2^53 − 1) come back as decimal strings. */
  type KilnSqlResult = number | string | null | Uint8Array;
  type KilnRow = Record<string, KilnSqlResult>;

  interface KilnSqlRunner {
    /** The rows, as objects keyed by column name. One statement per call. */
    query<R extends KilnRow = KilnRow>(sql: string, params?: KilnSqlValue[]): Promise<R[]>;
    execute(sql: string, params?: KilnSqlValue[]): Promise<{ rowsAffected: number; lastInsertId: number | string }>;
  }

  /** The script's own SQL database (SQLite). */
  const db: KilnSqlRunner & {
    /** All statements in one transaction: if one fails, none is applied. */
    batch(statements: { sql: string; params?: KilnSqlValue[] }[]): Promise<
      { rows: KilnRow[]; rowsAffected: number; lastInsertId: number | string }[]
    >;
    /** Committed when `run` resolves, rolled back (and the error rethrown) when it throws. */
    transaction<T>(run: (tx: KilnSqlRunner) => Promise<T> | T): Promise<T>;
  };

  // ---------------------------------------------------------------- bundle files

  interface KilnFileEntry {
    name: string;
    path: string;
    isDir: boolean;
    /** Bytes; for a directory, of all the files beneath it. */
    size: number;
  }

  /** The script's own bundle, read-only, as deployed. Paths are relative to the bundle root. */
  const files: {
    read(path: string): Promise<Uint8Array>;
    text(path: string): Promise<string>;
    list(dir?: string): Promise<KilnFileEntry[]>;
  };

  /** Renders a template of the bundle (MiniJinja; `*.html` & co. are HTML-escaped). */
  function render(template: string, data?: unknown): Promise<string>;

  /** CommonMark to HTML; raw HTML is escaped unless `allowHtml`. */
  function markdown(text: string, options?: { allowHtml?: boolean }): Promise<string>;

  // ---------------------------------------------------------------- WebAssembly

  interface KilnWasmRunOptions {
    stdin?: string | ArrayBuffer | ArrayBufferView;
    /** argv after argv[0]. */
    args?: string[];
    /** The module's whole environment. */
    env?: Record<string, string>;
  }

  /** Runs a `.wasm` file of the bundle as a WASI command, off the isolate. */
  const wasm: {
    run(
      path: string,
      options?: KilnWasmRunOptions,
    ): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  };

  // ---------------------------------------------------------------- JSX (HTML strings)

  /** Markup built by `h` / JSX: rendered to an HTML string. */
  interface KilnHtml {
    toString(): string;
  }

  type KilnChild = KilnHtml | string | number | boolean | null | undefined | KilnChild[];
  type KilnComponent<P = Record<string, unknown>> = (props: P & { children?: KilnChild[] }) => KilnHtml;

  function h(
    tag: string | KilnComponent<any>,
    props?: Record<string, unknown> | null,
    ...children: KilnChild[]
  ): KilnHtml;
  function Fragment(props: { children?: KilnChild[] }): KilnHtml;

  namespace JSX {
    type Element = KilnHtml;
    interface IntrinsicElements {
      [tag: string]: Record<string, unknown>;
    }
  }
}
