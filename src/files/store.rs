//! Where document objects live (`FILES_URL`): a local directory, or an S3-compatible bucket,
//! behind the `object_store` crate's one interface.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;

/// S3 settings read from the environment besides `FILES_URL` (the SDKs' usual names).
pub const S3_SETTINGS: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ALLOW_HTTP",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
];

#[derive(Clone)]
pub enum Location {
    /// A directory on this machine (by default `DATA_DIR/files/`).
    Local(PathBuf),
    /// `s3://bucket/prefix`, with the `AWS_*` settings that were given.
    S3 {
        bucket: String,
        prefix: String,
        options: Vec<(String, String)>,
    },
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The options hold the secret access key: name the place only.
        f.write_str(&self.describe())
    }
}

impl Location {
    /// Reads `FILES_URL` (and the `AWS_*` settings through `get`). A bad value stops the start,
    /// naming the setting; an S3 store is built once here so that its settings are checked
    /// before anything is served (building sends no request).
    pub fn from_settings(
        files_url: Option<String>,
        get: impl Fn(&str) -> Option<String>,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let Some(url) = files_url else {
            return Ok(Location::Local(data_dir.join("files")));
        };
        let url = url.trim();
        let Some(rest) = url.strip_prefix("s3://") else {
            bail!(
                "FILES_URL must be s3://bucket/prefix (or unset, for DATA_DIR/files/), not `{url}`"
            );
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            bail!("FILES_URL: `{bucket}` is not an S3 bucket name (3–63 lowercase letters, digits, `-` or `.`)");
        }
        let prefix = prefix.trim_matches('/').to_owned();
        if prefix.split('/').any(|p| p == "." || p == "..")
            || object_store::path::Path::parse(&prefix).is_err()
        {
            bail!("FILES_URL: the prefix `{prefix}` is not a valid object path");
        }
        let options = S3_SETTINGS
            .iter()
            .filter_map(|k| get(k).map(|v| ((*k).to_owned(), v)))
            .collect();
        let location = Location::S3 {
            bucket: bucket.to_owned(),
            prefix,
            options,
        };
        location.open().context("FILES_URL")?;
        Ok(location)
    }

    /// Where, for logs and messages: no credentials.
    pub fn describe(&self) -> String {
        match self {
            Location::Local(dir) => dir.display().to_string(),
            Location::S3 { bucket, prefix, .. } if prefix.is_empty() => format!("s3://{bucket}"),
            Location::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    pub fn open(&self) -> anyhow::Result<Arc<dyn ObjectStore>> {
        match self {
            Location::Local(dir) => {
                // Owner-only, like the rest of DATA_DIR; objects are created under the
                // process's umask (077 when started by the binary).
                super::create_private_dir(&dir.join("v1"))
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let fs = LocalFileSystem::new_with_prefix(dir)
                    .with_context(|| format!("cannot use {} for documents", dir.display()))?;
                Ok(Arc::new(fs))
            }
            Location::S3 {
                bucket,
                prefix,
                options,
            } => {
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                for (k, v) in options {
                    let key: AmazonS3ConfigKey = k
                        .to_ascii_lowercase()
                        .parse()
                        .with_context(|| format!("{k} is not an S3 setting"))?;
                    builder = builder.with_config(key, v);
                }
                let s3 = builder
                    .build()
                    .map_err(|e| anyhow::anyhow!("the S3 store cannot be set up: {e}"))?;
                if prefix.is_empty() {
                    Ok(Arc::new(s3))
                } else {
                    Ok(Arc::new(PrefixStore::new(s3, prefix.as_str())))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> anyhow::Result<Location> {
        Location::from_settings(Some(v.into()), |_| None, std::path::Path::new("/d"))
    }

    #[test]
    fn unset_is_the_data_dir() {
        let l = Location::from_settings(None, |_| None, std::path::Path::new("/d")).unwrap();
        assert!(matches!(l, Location::Local(ref p) if p == std::path::Path::new("/d/files")));
    }

    #[test]
    fn s3_urls_parse_and_bad_ones_name_the_setting() {
        let l = parse("s3://docs-bucket/tracker/prod/").unwrap();
        assert_eq!(l.describe(), "s3://docs-bucket/tracker/prod");
        assert_eq!(
            parse("s3://docs-bucket").unwrap().describe(),
            "s3://docs-bucket"
        );
        for bad in [
            "/var/files",
            "http://x/y",
            "s3://",
            "s3://UPPER/x",
            "s3://b/../x",
            "s3://ab",
        ] {
            let err = format!("{:#}", parse(bad).unwrap_err());
            assert!(err.contains("FILES_URL"), "{bad}: {err}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let l = Location::from_settings(
            Some("s3://bucket-x/p".into()),
            |k| match k {
                "AWS_SECRET_ACCESS_KEY" => Some("very-secret".to_owned()),
                "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".to_owned()),
                _ => None,
            },
            std::path::Path::new("/d"),
        )
        .unwrap();
        assert!(!format!("{l:?}").contains("very-secret"));
    }
}
