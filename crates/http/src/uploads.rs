//! `multipart/form-data`: fields into the form tree, files into temp files
//! described by the uploads tree. Temp files live as long as the returned
//! [`TempFiles`] and are removed when the request ends, whatever happened
//! to the worker.

use std::path::Path;

use serde_json::{json, Map, Value};
use tokio::io::AsyncWriteExt;

use crate::body::{classify, BodyError, BoxError};
use crate::form;
use crate::UploadOptions;

/// PHP's `UPLOAD_ERR_*` codes, as RoadRunner reports them.
const UPLOAD_ERR_OK: u8 = 0;
const UPLOAD_ERR_NO_FILE: u8 = 4;
const UPLOAD_ERR_NO_TMP_DIR: u8 = 6;
const UPLOAD_ERR_CANT_WRITE: u8 = 7;
const UPLOAD_ERR_EXTENSION: u8 = 8;

/// Temp files of one request; dropping this removes them.
#[derive(Default)]
pub(crate) struct TempFiles(Vec<tempfile::TempPath>);

impl TempFiles {
    /// Number of files written.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// A parsed multipart body.
pub(crate) struct Parsed {
    pub(crate) fields: Map<String, Value>,
    pub(crate) uploads: Map<String, Value>,
    pub(crate) files: TempFiles,
}

/// Whether a client file name may be stored: `forbid` wins over `allow`;
/// a non-empty `allow` is the only list accepted. Lower-case, with the dot.
pub(crate) fn allowed(file_name: &str, opts: &UploadOptions) -> bool {
    let ext = Path::new(file_name)
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy().to_lowercase()))
        .unwrap_or_default();
    if opts.forbid.iter().any(|f| f.eq_ignore_ascii_case(&ext)) {
        return false;
    }
    opts.allow.is_empty() || opts.allow.iter().any(|a| a.eq_ignore_ascii_case(&ext))
}

fn leaf(name: &str, mime: &str, size: u64, error: u8, tmp: &str) -> Value {
    json!({"name": name, "mime": mime, "size": size, "error": error, "tmpName": tmp})
}

fn multer_error(e: multer::Error) -> BodyError {
    match e {
        multer::Error::StreamReadFailed(inner) => classify(&inner),
        other => BodyError::Bad(other.to_string()),
    }
}

/// Reads a multipart body (already limited to `max_request_size`).
pub(crate) async fn parse<S>(
    stream: S,
    boundary: String,
    opts: &UploadOptions,
) -> Result<Parsed, BodyError>
where
    S: futures::Stream<Item = Result<bytes::Bytes, BoxError>> + Send + 'static,
{
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    let mut files = Vec::new();
    let mut temp = TempFiles::default();
    let dir = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    while let Some(mut field) = multipart.next_field().await.map_err(multer_error)? {
        let name = field.name().unwrap_or("").to_owned();
        let Some(file_name) = field.file_name().map(str::to_owned) else {
            let text = field.text().await.map_err(multer_error)?;
            fields.push((name, Value::String(text)));
            continue;
        };
        let mime = field
            .content_type()
            .map(ToString::to_string)
            .unwrap_or_default();
        if file_name.is_empty() {
            // An empty file input: PHP reports UPLOAD_ERR_NO_FILE.
            while field.chunk().await.map_err(multer_error)?.is_some() {}
            files.push((name, leaf("", &mime, 0, UPLOAD_ERR_NO_FILE, "")));
            continue;
        }
        if !allowed(&file_name, opts) {
            // Forbidden files never touch the disk.
            let mut size = 0u64;
            while let Some(chunk) = field.chunk().await.map_err(multer_error)? {
                size += chunk.len() as u64;
            }
            files.push((
                name,
                leaf(&file_name, &mime, size, UPLOAD_ERR_EXTENSION, ""),
            ));
            continue;
        }
        let created = tempfile::Builder::new().prefix("upload").tempfile_in(&dir);
        let (file, path) = match created {
            Ok(named) => named.into_parts(),
            Err(e) => {
                let code = if dir.is_dir() {
                    UPLOAD_ERR_CANT_WRITE
                } else {
                    UPLOAD_ERR_NO_TMP_DIR
                };
                tracing::warn!(target: "coyote::http", dir = %dir.display(), error = %e, "cannot create upload temp file");
                while field.chunk().await.map_err(multer_error)?.is_some() {}
                files.push((name, leaf(&file_name, &mime, 0, code, "")));
                continue;
            }
        };
        if let Some((uid, gid)) = opts.owner {
            if let Err(e) = std::os::unix::fs::fchown(&file, Some(uid), Some(gid)) {
                tracing::warn!(target: "coyote::http", error = %e, "cannot give the upload temp file to the worker user");
            }
        }
        let mut file = tokio::fs::File::from_std(file);
        let mut size = 0u64;
        let mut code = UPLOAD_ERR_OK;
        while let Some(chunk) = field.chunk().await.map_err(multer_error)? {
            size += chunk.len() as u64;
            if code == UPLOAD_ERR_OK && file.write_all(&chunk).await.is_err() {
                code = UPLOAD_ERR_CANT_WRITE;
            }
        }
        if code == UPLOAD_ERR_OK && file.flush().await.is_err() {
            code = UPLOAD_ERR_CANT_WRITE;
        }
        let tmp = path.display().to_string();
        temp.0.push(path);
        files.push((name, leaf(&file_name, &mime, size, code, &tmp)));
    }
    Ok(Parsed {
        fields: form::tree(form::group(fields)),
        uploads: form::tree(form::group(files)),
        files: temp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(forbid: &[&str], allow: &[&str]) -> UploadOptions {
        UploadOptions {
            dir: None,
            forbid: forbid.iter().map(|s| (*s).to_owned()).collect(),
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            owner: None,
        }
    }

    #[test]
    fn forbid_wins_and_allow_restricts() {
        let default = UploadOptions::default();
        assert!(!allowed("shell.php", &default));
        assert!(!allowed("SHELL.PHP", &default));
        assert!(allowed("photo.jpg", &default));
        assert!(allowed("README", &default));
        let only_images = opts(&[".php"], &[".jpg", ".png"]);
        assert!(allowed("a.JPG", &only_images));
        assert!(!allowed("a.gif", &only_images));
        assert!(!allowed("README", &only_images));
        let both = opts(&[".jpg"], &[".jpg"]);
        assert!(!allowed("a.jpg", &both));
    }

    #[tokio::test]
    async fn files_go_to_temp_files_that_vanish_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let body = "--XX\r\n\
            Content-Disposition: form-data; name=\"user[name]\"\r\n\r\nann\r\n\
            --XX\r\n\
            Content-Disposition: form-data; name=\"docs[]\"; filename=\"a.txt\"\r\n\
            Content-Type: text/plain\r\n\r\nhello\r\n\
            --XX\r\n\
            Content-Disposition: form-data; name=\"docs[]\"; filename=\"evil.php\"\r\n\
            Content-Type: text/plain\r\n\r\n<?php\r\n\
            --XX--\r\n";
        let stream = futures::stream::iter(vec![Ok::<_, BoxError>(bytes::Bytes::from(body))]);
        let o = UploadOptions {
            dir: Some(dir.path().to_owned()),
            ..UploadOptions::default()
        };
        let parsed = parse(stream, "XX".into(), &o).await.unwrap();
        assert_eq!(
            Value::Object(parsed.fields.clone()),
            json!({"user": {"name": "ann"}})
        );
        let docs = parsed.uploads["docs"].as_array().unwrap();
        assert_eq!(docs[0]["name"], "a.txt");
        assert_eq!(docs[0]["size"], 5);
        assert_eq!(docs[0]["error"], 0);
        assert_eq!(docs[0]["mime"], "text/plain");
        let tmp = docs[0]["tmpName"].as_str().unwrap().to_owned();
        assert_eq!(std::fs::read_to_string(&tmp).unwrap(), "hello");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tmp).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "upload temp files are not world-readable");
        assert_eq!(docs[1]["error"], 8);
        assert_eq!(docs[1]["tmpName"], "");
        assert_eq!(
            parsed.files.len(),
            1,
            "the forbidden file never touched the disk"
        );
        drop(parsed);
        assert!(!Path::new(&tmp).exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
