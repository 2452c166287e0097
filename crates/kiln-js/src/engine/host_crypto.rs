//! The native half of `crypto.subtle`: digests (SHA-1, SHA-256, SHA-384, SHA-512) and HMAC
//! signing and verification, as synchronous host functions the prelude (`08_crypto.js`) wraps
//! in promises. They run on the worker thread inside the calling turn, so their CPU time is
//! charged to the invocation like any other work of the script.

use hmac::{Hmac, Mac};
use rquickjs::{Ctx, Exception, Function, Object, TypedArray, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::host::bytes_of;

/// Adds `digest`, `hmacSign` and `hmacVerify` to the host object.
pub(super) fn install<'js>(ctx: &Ctx<'js>, host: &Object<'js>) -> rquickjs::Result<()> {
    host.set(
        "digest",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, algorithm: String, data: Value<'js>| {
                let data = input(&ctx, &data)?;
                let out = match algorithm.as_str() {
                    "SHA-1" => Sha1::digest(&data).to_vec(),
                    "SHA-256" => Sha256::digest(&data).to_vec(),
                    "SHA-384" => Sha384::digest(&data).to_vec(),
                    "SHA-512" => Sha512::digest(&data).to_vec(),
                    other => return Err(unsupported(&ctx, other)),
                };
                TypedArray::<u8>::new(ctx, out)
            },
        )?,
    )?;
    host.set(
        "hmacSign",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, hash: String, key: Value<'js>, data: Value<'js>| {
                let mac = hmac_of(&ctx, &hash, &input(&ctx, &key)?, &input(&ctx, &data)?)?;
                TypedArray::<u8>::new(ctx, mac.finalize())
            },
        )?,
    )?;
    host.set(
        "hmacVerify",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             hash: String,
             key: Value<'js>,
             signature: Value<'js>,
             data: Value<'js>| {
                let mac = hmac_of(&ctx, &hash, &input(&ctx, &key)?, &input(&ctx, &data)?)?;
                // Constant-time comparison (the length is not secret).
                Ok::<bool, rquickjs::Error>(mac.verify(&input(&ctx, &signature)?))
            },
        )?,
    )?;
    Ok(())
}

/// An HMAC over `data` with `key`, ready to finish or compare.
enum AnyHmac {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

impl AnyHmac {
    fn finalize(self) -> Vec<u8> {
        match self {
            AnyHmac::Sha1(m) => m.finalize().into_bytes().to_vec(),
            AnyHmac::Sha256(m) => m.finalize().into_bytes().to_vec(),
            AnyHmac::Sha384(m) => m.finalize().into_bytes().to_vec(),
            AnyHmac::Sha512(m) => m.finalize().into_bytes().to_vec(),
        }
    }

    fn verify(self, signature: &[u8]) -> bool {
        match self {
            AnyHmac::Sha1(m) => m.verify_slice(signature).is_ok(),
            AnyHmac::Sha256(m) => m.verify_slice(signature).is_ok(),
            AnyHmac::Sha384(m) => m.verify_slice(signature).is_ok(),
            AnyHmac::Sha512(m) => m.verify_slice(signature).is_ok(),
        }
    }
}

fn hmac_of(ctx: &Ctx<'_>, hash: &str, key: &[u8], data: &[u8]) -> rquickjs::Result<AnyHmac> {
    fn keyed<M: Mac + hmac::digest::KeyInit>(
        ctx: &Ctx<'_>,
        key: &[u8],
        data: &[u8],
    ) -> rquickjs::Result<M> {
        // HMAC accepts keys of every length; the error exists for other MACs.
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .map_err(|_| Exception::throw_type(ctx, "crypto.subtle: invalid HMAC key"))?;
        mac.update(data);
        Ok(mac)
    }
    Ok(match hash {
        "SHA-1" => AnyHmac::Sha1(keyed(ctx, key, data)?),
        "SHA-256" => AnyHmac::Sha256(keyed(ctx, key, data)?),
        "SHA-384" => AnyHmac::Sha384(keyed(ctx, key, data)?),
        "SHA-512" => AnyHmac::Sha512(keyed(ctx, key, data)?),
        other => return Err(unsupported(ctx, other)),
    })
}

fn input(ctx: &Ctx<'_>, value: &Value<'_>) -> rquickjs::Result<Vec<u8>> {
    bytes_of(value).ok_or_else(|| {
        Exception::throw_type(
            ctx,
            "crypto.subtle: data must be an ArrayBuffer or a typed array",
        )
    })
}

fn unsupported(ctx: &Ctx<'_>, algorithm: &str) -> rquickjs::Error {
    Exception::throw_type(
        ctx,
        &format!("crypto.subtle: unsupported hash algorithm {algorithm:?}"),
    )
}
