//! Unit tests for configuration loading, layering and validation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)] // + `Jail`

use super::*;
use figment::Jail;

/// Runs `test` in a jail: a fresh working directory; environment changes undone afterwards.
fn jailed(test: impl FnOnce(&mut Jail)) {
    Jail::expect_with(|jail| {
        test(jail);
        Ok(())
    });
}

fn problems(overrides: &CliOverrides) -> Vec<String> {
    let err = Config::load(overrides).unwrap_err();
    err.problems().iter().map(ToString::to_string).collect()
}

#[test]
fn defaults_without_file_env_or_flags_and_redaction() {
    jailed(|_| {
        let config = Config::load(&CliOverrides::default()).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_path(), Path::new("./kiln-data/kiln.db"));
        assert_eq!(config.limits.cpu(), Duration::from_millis(50));
        assert_eq!(config.limits.memory_bytes(), 64 * 1024 * 1024);
        assert!(config.validate().is_empty());
        let secret = "super-secret-token-value";
        let config = Config {
            admin_token: Some(secret.into()),
            ..config
        };
        assert!(
            !format!("{config:?}").contains(secret),
            "Debug redacts the token"
        );
        let printed = toml::to_string(&config.redacted()).unwrap();
        assert!(
            printed.contains("admin_token = \"<redacted>\""),
            "{printed}"
        );
    });
}

#[test]
fn file_then_env_then_flags() {
    jailed(|jail| {
        let file = "listen = \"127.0.0.1:1111\"\ndata_dir = \"/from-file\"\n\
                    log_format = \"json\"\n[limits]\ncpu_ms = 10\nwall_ms = 500\n";
        jail.create_file("kiln.toml", file).unwrap();
        jail.set_env("KILN_LISTEN", "127.0.0.1:2222");
        jail.set_env("KILN_LIMITS__CPU_MS", "20");
        jail.set_env("KILN_ADMIN_TOKEN", "1234567890123456");
        jail.set_env("KILN_LOG_LEVEL", "info,kiln=debug");
        jail.set_env("KILN_TOKEN", "client-side only");
        jail.set_env("KILN_SERVER", "http://elsewhere");
        let flags = CliOverrides {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 3333))),
            ..CliOverrides::default()
        };
        let config = Config::load(&flags).unwrap();
        assert_eq!(config.listen.port(), 3333, "flag beats env and file");
        assert_eq!(config.limits.cpu_ms, 20, "env beats file");
        assert_eq!(config.limits.wall_ms, 500, "file beats default");
        assert_eq!(config.limits.init_cpu_ms, 1000, "default");
        assert_eq!(config.data_dir, Path::new("/from-file"));
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.admin_token.as_deref(), Some("1234567890123456"));
        assert_eq!(config.log_level, "info,kiln=debug");
    });
}

#[test]
fn explicit_file_must_exist_and_replaces_the_default_file() {
    jailed(|jail| {
        jail.create_file("kiln.toml", "listen = \"127.0.0.1:1\"")
            .unwrap();
        jail.create_file("other.toml", "log_level = \"warn\"")
            .unwrap();
        let mut flags = CliOverrides {
            config: Some("other.toml".into()),
            ..CliOverrides::default()
        };
        let config = Config::load(&flags).unwrap();
        assert_eq!(
            (config.listen, config.log_level.as_str()),
            (DEFAULT_LISTEN, "warn")
        );
        flags.config = Some("missing.toml".into());
        let err = Config::load(&flags).unwrap_err().to_string();
        assert_eq!(err, "config file missing.toml does not exist");
    });
}

#[test]
fn unknown_keys_are_rejected_with_their_name_and_source() {
    jailed(|jail| {
        jail.create_file("kiln.toml", "[limits]\ncpu_msec = 5\n")
            .unwrap();
        assert_eq!(
            problems(&CliOverrides::default()),
            [
                "limits.cpu_msec: unknown key (expected one of: cpu_ms, init_cpu_ms, wall_ms, \
              memory_mb, max_bundle_bytes, max_response_bytes) [file kiln.toml]"
            ]
        );
        jail.create_file("kiln.toml", "").unwrap();
        jail.set_env("KILN_LISTN", "127.0.0.1:1");
        let problem = problems(&CliOverrides::default()).join("\n");
        assert!(problem.starts_with("listn: unknown key"), "{problem}");
        assert!(problem.ends_with("[env KILN_LISTN]"), "{problem}");
    });
}

#[test]
fn bad_values_are_all_reported_with_key_and_source() {
    jailed(|jail| {
        let file = "[limits]\ncpu_ms = 0\n[scripts.hello.limits]\nmemory_mb = 100000\n";
        jail.create_file("kiln.toml", file).unwrap();
        jail.set_env("KILN_ADMIN_TOKEN", "too-short");
        jail.set_env("KILN_LOG_LEVEL", "info,=bad=");
        let problems = problems(&CliOverrides::default());
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert_eq!(
            problems[0],
            "admin_token: must be at least 16 characters (got 9) [env KILN_ADMIN_TOKEN]"
        );
        assert!(problems[1].starts_with("log_level: not a valid log filter"));
        assert_eq!(
            problems[2..],
            [
                "limits.cpu_ms: must be between 1 and 600000 (got 0) [file kiln.toml]",
                "scripts.hello.limits.memory_mb: must be between 1 and 16384 (got 100000) \
                 [file kiln.toml]"
            ]
        );
        jail.set_env("KILN_HTTP__MAX_BODY_BYTES", "lots");
        let error = Config::load(&CliOverrides::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid configuration: http.max_body_bytes: invalid type: found string \
             \"lots\", expected usize [env KILN_HTTP__MAX_BODY_BYTES]"
        );
    });
}

#[test]
fn per_script_overrides_merge_over_global_limits() {
    let config: Config = toml::from_str(
        "[limits]\ncpu_ms = 70\nwall_ms = 900\n\
         [scripts.heavy.limits]\ncpu_ms = 400\nmemory_mb = 256\n",
    )
    .unwrap();
    let heavy = config.limits_for("heavy");
    assert_eq!(
        (heavy.cpu_ms, heavy.memory_mb, heavy.wall_ms),
        (400, 256, 900)
    );
    assert_eq!(config.limits_for("other"), config.limits);
}

/// `kiln.example.toml` documents every key with its default as a commented-out line
/// (`#key = value`, no space after `#`); prose comments are `# …`. As is it changes
/// nothing; uncommented, it must be exactly the serialised defaults: no key missing, none
/// extra, no value stale.
#[test]
fn example_file_documents_every_key_with_its_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kiln.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(toml::from_str::<Config>(&text).unwrap(), Config::default());
    let uncommented: String = text
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if !rest.is_empty() && !rest.starts_with([' ', '#']) => rest,
            _ => line,
        })
        .flat_map(|line| [line, "\n"])
        .collect();
    assert_eq!(
        toml::from_str::<Config>(&uncommented).unwrap(),
        Config::default()
    );
    let table: toml::Table = toml::from_str(&uncommented).unwrap();
    assert_eq!(table, toml::Table::try_from(Config::default()).unwrap());
}

#[test]
fn http_hygiene_settings_are_validated_with_their_source() {
    jailed(|jail| {
        let file = "[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n\
                    secure = \"always\"\nmax_auth_body_bytes = 0\n\
                    [http.cors]\nallowed_origins = [\"*\"]\nallow_credentials = true\n\
                    max_age_secs = 100000\n";
        jail.create_file("kiln.toml", file).unwrap();
        assert_eq!(
            problems(&CliOverrides::default()),
            [
                "http.trusted_proxies: \"10.0.0.0/33\" is not an IP address or CIDR range \
                 (expected entries like \"10.0.0.0/8\" or \"127.0.0.1\") [file kiln.toml]",
                "http.cors.allowed_origins: [\"*\"] (any origin) cannot be combined with \
                 allow_credentials = true (browsers refuse it); list the allowed origins \
                 instead [file kiln.toml]",
                "http.max_auth_body_bytes: must be between 1 and 1073741824 (got 0) \
                 [file kiln.toml]",
                "http.cors.max_age_secs: must be between 0 and 86400 (got 100000) \
                 [file kiln.toml]",
            ]
        );
        let file = "[http]\ntrusted_proxies = [\"127.0.0.1\", \"fd00::/8\"]\nsecure = \"never\"\n\
                    [http.cors]\nallowed_origins = [\"https://app.example.com\"]\n\
                    allow_credentials = true\n";
        jail.create_file("kiln.toml", file).unwrap();
        jail.set_env("KILN_HTTP__COMPRESSION", "false");
        let config = Config::load(&CliOverrides::default()).unwrap();
        assert_eq!(config.http.secure, SecureMode::Never);
        assert!(!config.http.compression);
        assert!(config.http.security_headers);
        assert_eq!(config.http.trusted_proxies, ["127.0.0.1", "fd00::/8"]);
        assert_eq!(config.http.max_auth_body_bytes, 64 * 1024);
        jail.create_file("kiln.toml", "[http]\nsecure = \"sometimes\"\n")
            .unwrap();
        let problem = problems(&CliOverrides::default()).join("\n");
        assert!(problem.starts_with("http.secure: "), "{problem}");
        assert!(problem.contains("auto"), "{problem}");
    });
}

#[test]
fn egress_settings_are_validated_globally_and_per_script() {
    jailed(|jail| {
        let file = "[egress]\nallow = [\"10.0.0.0/33\", \"api.example.com\"]\nmax_concurrent = 0\n\
                    [scripts.reports.egress]\ndeny = [\"http://x\"]\ntimeout_ms = 0\n";
        jail.create_file("kiln.toml", file).unwrap();
        assert_eq!(
            problems(&CliOverrides::default()),
            [
                "egress.allow: \"10.0.0.0/33\" is not an IP address, CIDR range or host name \
                 (expected entries like \"10.1.2.0/24\", \"api.example.com\" or \"*.example.com\") \
                 [file kiln.toml]",
                "egress.max_concurrent: must be between 1 and 1000 (got 0) [file kiln.toml]",
                "scripts.reports.egress.deny: \"http://x\" is not an IP address, CIDR range or \
                 host name (expected entries like \"10.1.2.0/24\", \"api.example.com\" or \
                 \"*.example.com\") [file kiln.toml]",
                "scripts.reports.egress.timeout_ms: must be between 1 and 3600000 (got 0) \
                 [file kiln.toml]",
            ]
        );
        let file = "[egress]\nallow = [\"10.1.2.0/24\"]\n[scripts.reports.egress]\n\
                    allow = [\"*.internal.example\"]\nmax_subrequests = 200\n";
        jail.create_file("kiln.toml", file).unwrap();
        let config = Config::load(&CliOverrides::default()).unwrap();
        let merged = config.scripts["reports"].egress.apply_to(&config.egress);
        assert_eq!(merged.allow, ["10.1.2.0/24", "*.internal.example"]);
        assert_eq!((merged.max_subrequests, merged.max_concurrent), (200, 6));
    });
}
