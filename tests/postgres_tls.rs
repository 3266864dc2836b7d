//! TLS of the PostgreSQL source against a real server with a certificate
//! from a test CA: `verify-full` connects with the CA as root and refuses
//! another CA or a wrong host name; `verify-ca` accepts the wrong name;
//! `require` encrypts without roots. The server confirms each session it
//! accepted is encrypted.

mod pg_support;

use motifd::postgres::session::{Failure, Session};
use motifd::postgres::target::{Credentials, Target};
use pg_support::Cluster;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate it signed for localhost and 127.0.0.1, and
/// an unrelated CA.
fn certificates(dir: &Path) {
    let ca = [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    ];
    openssl(
        dir,
        &[
            &ca[..],
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-subj",
                "/CN=motifd test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &ca[..],
            &[
                "-keyout",
                "other.key",
                "-out",
                "other.crt",
                "-subj",
                "/CN=other CA",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

#[test]
#[ignore = "needs PostgreSQL (postgresql) and openssl: run by .ci/run"]
fn sslmodes_connect_verify_and_refuse_as_libpq_does() {
    let certs = std::env::temp_dir().join(format!("motifd-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&certs);
    std::fs::create_dir_all(&certs).unwrap();
    certificates(&certs);
    let c = Cluster::start_with(
        "32MB",
        "-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key",
        |dir| {
            for f in ["server.crt", "server.key"] {
                std::fs::copy(certs.join(f), dir.join("data").join(f)).unwrap();
            }
        },
    );
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/sources.md");
    c.sql("postgres", &pg_support::observer_role_sql(&docs, "tls-pw"));
    let url = |params: &str| {
        format!("host={params} port={} user=motifd_observer password=tls-pw dbname=postgres application_name=tls-test", c.port)
    };
    let ca = certs.join("ca.crt").display().to_string();
    let other = certs.join("other.crt").display().to_string();
    let connect = |conninfo: String| {
        let target = Target::parse(&conninfo, &Credentials::default()).unwrap();
        Session::connect(&target, Duration::from_millis(500))
    };
    let encrypted = || -> u32 {
        c.sql(
            "postgres",
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name = 'tls-test' AND ssl",
        )
        .trim()
        .parse()
        .unwrap()
    };
    let accepted = [
        format!("localhost sslmode=verify-full sslrootcert={ca}"),
        format!("127.0.0.1 sslmode=verify-full sslrootcert={ca}"),
        format!("wrong.example hostaddr=127.0.0.1 sslmode=verify-ca sslrootcert={ca}"),
        "127.0.0.1 sslmode=require".to_string(),
    ];
    for params in accepted {
        let mut session = connect(url(&params)).unwrap_or_else(|e| panic!("{params}: {e:?}"));
        assert_eq!(encrypted(), 1, "{params}: the server sees no TLS session");
        let snap = session.poll(0.0).unwrap();
        assert!(!snap.stat_database.is_empty(), "{params}");
        drop(session);
        pg_support::wait_for(Duration::from_secs(10), "the session to end", || {
            (encrypted() == 0).then_some(())
        });
    }
    let refused = [
        format!("localhost sslmode=verify-full sslrootcert={other}"),
        format!("wrong.example hostaddr=127.0.0.1 sslmode=verify-full sslrootcert={ca}"),
        format!("127.0.0.1 sslmode=verify-ca sslrootcert={other}"),
    ];
    for params in refused {
        match connect(url(&params)) {
            Ok(_) => panic!("{params}: connected"),
            Err(e) => {
                assert_eq!(e.reason, Failure::Connect, "{params}: {}", e.message);
                assert!(!e.message.contains("tls-pw"), "{}", e.message);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&certs);
}
