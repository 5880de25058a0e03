//! Password hashing with argon2id. Each hash works in about 19 MiB for tens of milliseconds, so
//! hashing is bounded: it runs on a few threads of its own, one per core, shared by login, user
//! creation and password change, and other requests queue for a turn. Each of those threads
//! keeps one working memory and reuses it, so memory stays at one block per core however many
//! logins arrive.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, LazyLock, Mutex};

use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::AppResult;

thread_local! {
    /// Argon2's working memory, allocated once per thread and reused: allocating and freeing
    /// 19 MiB per hash lets the allocator's dynamic thresholds keep freed blocks around, so
    /// resident memory grew with every hash that ran.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 with this thread's working memory.
fn compute(argon: &Argon2, password: &[u8], salt: &[u8], out: &mut [u8]) -> argon2::Result<()> {
    MEMORY.with_borrow_mut(|memory| {
        let needed = argon.params().block_count();
        if memory.len() < needed {
            memory.resize(needed, Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..needed])
    })
}

/// A new argon2id hash (default parameters) in PHC string form.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let argon = Argon2::default();
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt
        .decode_b64(&mut raw_salt)
        .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))?;
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        Ok(compute(&argon, password.as_bytes(), raw_salt, out)?)
    })
    .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params())
            .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Checks a password against a stored PHC string, with the parameters it names.
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut raw_salt = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut raw_salt) else {
        return false;
    };
    Output::init_with(expected.len(), |out| {
        Ok(compute(&argon, password.as_bytes(), raw_salt, out)?)
    })
    // `Output` compares in constant time.
    .is_ok_and(|computed| computed == expected)
}

/// A real argon2id hash with the default parameters (those `hash` uses) of a password nobody
/// knows: checking against it costs what checking a real account costs.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$fuQPJmQv7gSWUmoNYpuZBg$G7hgLgquoMjW9qWzw3+I9h2My6K0tjbDxettyzbhZKc";

/// Checks a password against an account's hash, or — when there is no usable account —
/// against the dummy hash and answers false, so that an unknown email cannot be told from a
/// wrong password by timing.
pub fn verify_or_dummy(password: &str, stored: Option<&str>) -> bool {
    match stored {
        Some(h) => verify(password, h),
        None => {
            let _ = verify(password, DUMMY_HASH);
            false
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The queue of the hashing threads.
static HASHING: LazyLock<mpsc::Sender<Job>> = LazyLock::new(|| {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for i in 0..threads {
        let queue = queue.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("password-{i}"))
            .spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok(job) = next else { break };
                // A job that panics loses its answer (the caller gets an error), not the thread.
                let _ = catch_unwind(AssertUnwindSafe(job));
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a password hashing thread");
        }
    }
    jobs
});

/// Runs `f` (which hashes or checks passwords) on a hashing thread, in turn.
pub async fn in_turn<T, F>(f: F) -> AppResult<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (answer, answered) = tokio::sync::oneshot::channel();
    HASHING
        .send(Box::new(move || {
            let _ = answer.send(f());
        }))
        .map_err(|_| anyhow::anyhow!("password hashing is unavailable"))?;
    answered
        .await
        .map_err(|_| anyhow::anyhow!("password hashing failed").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_functions() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash("correct horse battery").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert!(verify("correct horse battery", &theirs));
        assert!(!verify("correct horse battery!", &theirs));
    }

    #[test]
    fn the_dummy_costs_what_a_real_hash_costs() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let real_hash = hash("any password at all").unwrap();
        let real = PasswordHash::new(&real_hash).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(
            argon2::Params::try_from(&dummy).unwrap(),
            argon2::Params::try_from(&real).unwrap()
        );
        assert_eq!(dummy.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
        assert!(!verify_or_dummy("any password at all", None));
    }

    #[tokio::test]
    async fn hashing_runs_in_turn_on_its_own_threads() {
        let name = in_turn(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("password-"));
        let h = in_turn(|| hash("correct horse battery"))
            .await
            .unwrap()
            .unwrap();
        assert!(in_turn(move || verify("correct horse battery", &h))
            .await
            .unwrap());
    }
}
