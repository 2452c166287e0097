// Kiln prelude: `db`, the script's own SQL database, over the `db.*` host operations.
//
// Parameters are positional (`?`, `?NNN`): numbers, strings, booleans (stored as 1/0), null,
// BigInt (64-bit) and byte buffers (Uint8Array, ArrayBuffer, any view). Byte parameters travel
// in the operation's binary input and blob results in its binary reply, referenced from the
// JSON as `{ blob: [offset, length] }`; they come back as Uint8Array. Integers beyond
// ±(2^53 − 1) come back as decimal strings. Results are registered straight in pendingOps (no
// Promise.prototype.then in between, which scripts can replace). Failures reject with a
// DbError (12_host_ops.js's errorClassOf) carrying the host's code.

/** Errors of `db` (`err.code`: DB_SQL_ERROR, DB_TIMEOUT, DB_DENIED, …). */
class DbError extends KilnError {}
defineValue(DbError.prototype, "name", "DbError");

/** Starts `op`; the promise resolves to `map(value)` (or the value itself). */
function dbOp(op, args, bytes, map) {
  const promise = new PromiseCtor((resolve, reject) => {
    const onValue = map === undefined ? resolve : (value) => {
      let out;
      try {
        out = map(value);
      } catch (err) {
        reject(err);
        return;
      }
      resolve(out);
    };
    const id = hostStartOp(op, JSONStringify(args), bytes);
    MapPrototypeSet(pendingOps, id, { __proto__: null, op, resolve: onValue, reject });
  });
  pinPromiseConstructor(promise);
  return promise;
}

/** Collects byte parameters into one buffer. */
function dbBlobs() {
  return { __proto__: null, parts: [], length: 0 };
}

function dbBlobBytes(blobs) {
  if (blobs.parts.length === 0) return undefined;
  const out = new Uint8ArrayCtor(blobs.length);
  let at = 0;
  for (let i = 0; i < blobs.parts.length; i++) {
    TypedArrayPrototypeSet(out, blobs.parts[i], at);
    at += TypedArrayPrototypeGetLength(blobs.parts[i]);
  }
  return out;
}

function dbParam(api, index, value, blobs) {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!NumberIsFinite(value)) throw new TypeErrorCtor(`${api}: parameter ${index + 1} is ${value}; only finite numbers can be stored`);
      return value;
    case "bigint":
      return { __proto__: null, int: BigIntPrototypeToString(value) };
    case "undefined":
      throw new TypeErrorCtor(`${api}: parameter ${index + 1} is undefined; use null for SQL NULL`);
  }
  if (value === null) return null;
  const bytes = bufferSourceBytes(value);
  if (bytes === null) {
    throw new TypeErrorCtor(`${api}: parameter ${index + 1} must be a number, string, boolean, null, BigInt or bytes (store objects as JSON.stringify(…))`);
  }
  const length = TypedArrayPrototypeGetLength(bytes);
  const ref = { __proto__: null, blob: [blobs.length, length] };
  blobs.parts[blobs.parts.length] = bytes;
  blobs.length += length;
  return ref;
}

function dbStatement(api, sql, params, blobs) {
  if (typeof sql !== "string") throw new TypeErrorCtor(`${api}: the SQL must be a string`);
  if (params !== undefined && params !== null && !ArrayIsArray(params)) {
    throw new TypeErrorCtor(`${api}: params must be an array of values for the ? placeholders`);
  }
  const list = [];
  if (params) for (let i = 0; i < params.length; i++) list[i] = dbParam(api, i, params[i], blobs);
  return { __proto__: null, sql, params: list };
}

function dbValue(value, bytes) {
  if (value === null || typeof value !== "object") return value;
  const ref = value.blob;
  if (bytes === undefined) return new Uint8ArrayCtor(0);
  return u8Copy(u8View(bytes, ref[0], ref[0] + ref[1]));
}

/** Rows of a result as plain objects keyed by column name. */
function dbRows(result, bytes) {
  const columns = result.columns;
  const rows = result.rows;
  const out = new ArrayCtor(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = {};
    for (let j = 0; j < columns.length; j++) createDataProperty(row, columns[j], dbValue(rows[i][j], bytes));
    out[i] = row;
  }
  return out;
}

function dbChanges(result) {
  return { rowsAffected: result.rowsAffected, lastInsertId: result.lastInsertId };
}

/** `query` and `execute` in the script's database, or inside transaction `tx`. */
function dbStatements(tx, prefix) {
  return {
    __proto__: null,
    /** Runs one statement; resolves to its rows as objects (`[{ id: 1, … }]`). */
    query(sql, params = undefined) {
      return asyncCall(() => {
        const blobs = dbBlobs();
        const args = dbStatement(`${prefix}.query`, sql, params, blobs);
        args.tx = tx;
        return dbOp("db.query", args, dbBlobBytes(blobs), (value) => dbRows(value, value.bytes));
      });
    },
    /** Runs one statement; resolves to `{ rowsAffected, lastInsertId }`. */
    execute(sql, params = undefined) {
      return asyncCall(() => {
        const blobs = dbBlobs();
        const args = dbStatement(`${prefix}.execute`, sql, params, blobs);
        args.tx = tx;
        return dbOp("db.execute", args, dbBlobBytes(blobs), dbChanges);
      });
    },
  };
}

async function dbTransaction(fn) {
  const begun = await dbOp("db.begin", { __proto__: null }, undefined, undefined);
  const id = begun.tx;
  const tx = ObjectFreeze(dbStatements(id, "tx"));
  let result;
  try {
    const pending = fn(tx);
    if (isNativePromise(pending)) pinPromiseConstructor(pending);
    result = await pending;
  } catch (err) {
    try {
      await dbOp("db.rollback", { __proto__: null, tx: id }, undefined, undefined);
    } catch {
      // already over (ended with the request, or rolled back by SQLite): nothing to undo
    }
    throw err;
  }
  await dbOp("db.commit", { __proto__: null, tx: id }, undefined, undefined);
  return result;
}

const db = dbStatements(null, "db");
/**
 * Runs `statements` (`[{ sql, params }]`) atomically in one transaction; resolves to one
 * `{ rows, rowsAffected, lastInsertId }` per statement. Any failure rolls all of them back.
 */
db.batch = function batch(statements) {
  return asyncCall(() => {
    if (!ArrayIsArray(statements)) throw new TypeErrorCtor("db.batch: expected an array of { sql, params }");
    const blobs = dbBlobs();
    const list = [];
    for (let i = 0; i < statements.length; i++) {
      const s = statements[i];
      if (!isObjectLike(s)) throw new TypeErrorCtor(`db.batch: statement ${i + 1} must be an object { sql, params }`);
      list[i] = dbStatement(`db.batch (statement ${i + 1})`, s.sql, s.params, blobs);
    }
    return dbOp("db.batch", { __proto__: null, statements: list }, dbBlobBytes(blobs), (value) => {
      const out = new ArrayCtor(value.length);
      for (let i = 0; i < value.length; i++) {
        out[i] = { rows: dbRows(value[i], value.bytes), rowsAffected: value[i].rowsAffected, lastInsertId: value[i].lastInsertId };
      }
      return out;
    });
  });
};
/**
 * Runs `fn(tx)` in a transaction: committed when the promise it returns resolves, rolled back
 * when it throws (the error is rethrown). Use `tx.query` / `tx.execute` inside; the
 * transaction also ends, rolled back, with the request.
 */
db.transaction = function transaction(fn) {
  if (typeof fn !== "function") {
    return new PromiseCtor((_resolve, reject) => reject(new TypeErrorCtor("db.transaction: expected a function (tx) => …")));
  }
  return dbTransaction(fn);
};
ObjectFreeze(db);

defineGlobal("DbError", DbError);
defineGlobal("db", db);
