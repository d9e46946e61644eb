//! Enveloped XML-DSig exactly as the access-point contract profiles it: exclusive
//! C14N, RSA-SHA256, one Reference with `URI=""` whose transforms are
//! enveloped-signature then exclusive C14N, SHA-256 digest, the signer's X509
//! certificate in KeyInfo, the Signature as the root's last child.
//!
//! Written by hand over libxml2's C14N and OpenSSL rather than through libxmlsec1:
//! the profile is one fixed shape, the `xmlsec` crate's template builder cannot put
//! exclusive C14N on the Reference, and verification has to enforce the profile
//! (algorithms, transforms, position, the registry's certificate) itself anyway.
//! Interoperability with libxmlsec1 is proven by tests that run `xmlsec1` both ways.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use libxml::readonly::RoNode;
use libxml::tree::Document;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::{Signer as OsslSigner, Verifier};

use crate::sed::xml::{self, C14nScope, XmlLimits, elements, is};
use crate::signing::registry::TrustedCert;

pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const ALG_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const ALG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const ALG_ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const ALG_SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read key {path}: {message}")]
    Key { path: String, message: String },
    #[error("the document to sign is not usable: {0}")]
    Document(String),
    #[error("signing failed: {0}")]
    Crypto(String),
}

/// Every way a signature can fail the profile; all map to `SIGNATURE_INVALID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the document is not signed")]
    Unsigned,
    #[error("the document has {0} signatures; exactly one is allowed")]
    Several(usize),
    #[error("the signature is not the last child of the root element")]
    Misplaced,
    #[error("the signature does not follow the profile: {0}")]
    Profile(String),
    #[error("the embedded certificate is not the registered one for the signer")]
    CertificateMismatch,
    #[error("the signer has no registered certificate")]
    UnknownSigner,
    #[error("the signer's registered certificate is not valid now")]
    CertificateNotValidNow,
    #[error("the digest does not match the document")]
    DigestMismatch,
    #[error("the signature value does not verify")]
    BadSignature,
}

/// A private key and the certificate that goes into KeyInfo. The certificate's
/// base64 is rendered once here, not per document (see tech-notes).
pub struct Signer {
    key: PKey<Private>,
    cert_b64: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Signer, SignError> {
        let key = PKey::private_key_from_pem(key_pem).map_err(|e| SignError::Key {
            path: "<pem>".into(),
            message: e.to_string(),
        })?;
        let cert = openssl::x509::X509::from_pem(cert_pem).map_err(|e| SignError::Key {
            path: "<pem>".into(),
            message: e.to_string(),
        })?;
        let cert_der = cert
            .to_der()
            .map_err(|e| SignError::Crypto(e.to_string()))?;
        let matches = cert
            .public_key()
            .map(|p| p.public_eq(&key))
            .unwrap_or(false);
        if !matches {
            return Err(SignError::Key {
                path: "<pem>".into(),
                message: "the certificate does not belong to the key".into(),
            });
        }
        Ok(Signer {
            key,
            cert_b64: B64.encode(cert_der),
        })
    }

    pub fn from_files(
        key_path: &std::path::Path,
        cert_path: &std::path::Path,
    ) -> Result<Signer, SignError> {
        // A private key others can read is a key others may have copied: refuse it.
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(key_path).map_err(|e| SignError::Key {
                path: key_path.display().to_string(),
                message: e.to_string(),
            })?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SignError::Key {
                    path: key_path.display().to_string(),
                    message: format!(
                        "the private key is readable by group or others (mode {mode:o}); chmod 600 it"
                    ),
                });
            }
        }
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| SignError::Key {
                path: p.display().to_string(),
                message: e.to_string(),
            })
        };
        Signer::from_pem(&read(key_path)?, &read(cert_path)?).map_err(|e| match e {
            SignError::Key { message, .. } => SignError::Key {
                path: key_path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    fn sign_bytes(&self, data: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut s = OsslSigner::new(MessageDigest::sha256(), &self.key)
            .map_err(|e| SignError::Crypto(e.to_string()))?;
        s.update(data)
            .map_err(|e| SignError::Crypto(e.to_string()))?;
        s.sign_to_vec()
            .map_err(|e| SignError::Crypto(e.to_string()))
    }
}

/// The SignedInfo children, in the canonical form exclusive C14N gives them.
fn signed_info_children(digest_b64: &str) -> String {
    format!(
        "<ds:CanonicalizationMethod Algorithm=\"{ALG_EXC_C14N}\"></ds:CanonicalizationMethod>\
<ds:SignatureMethod Algorithm=\"{ALG_RSA_SHA256}\"></ds:SignatureMethod>\
<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"{ALG_ENVELOPED}\"></ds:Transform>\
<ds:Transform Algorithm=\"{ALG_EXC_C14N}\"></ds:Transform></ds:Transforms>\
<ds:DigestMethod Algorithm=\"{ALG_SHA256}\"></ds:DigestMethod><ds:DigestValue>{digest_b64}</ds:DigestValue></ds:Reference>"
    )
}

/// Sign an unsigned document: the Signature becomes the root's last child. The
/// input bytes are kept as they are; only the Signature element is inserted
/// before the root's end tag, so the signed bytes are what the digest covers.
pub fn sign(unsigned: &[u8], signer: &Signer) -> Result<Vec<u8>, SignError> {
    crate::store::debug_assert_outside_transaction("signing");
    let limits = XmlLimits::default();
    let doc = xml::parse(unsigned, &limits).map_err(|e| SignError::Document(e.to_string()))?;
    let root = doc
        .get_root_readonly()
        .ok_or_else(|| SignError::Document("no root".into()))?;
    let canonical =
        xml::c14n(&doc, C14nScope::Document).map_err(|e| SignError::Document(e.to_string()))?;
    let end_tag = format!("</{}>", qualified_name(root));
    let text =
        std::str::from_utf8(unsigned).map_err(|_| SignError::Document("not UTF-8".into()))?;
    let pos = text
        .rfind(&end_tag)
        .ok_or_else(|| SignError::Document("the root element has no end tag".into()))?;
    enveloped(unsigned, &canonical, pos, signer)
}

/// Sign a document this program rendered: the XML declaration line, then the
/// document already in exclusive canonical form, then one newline, as
/// `envelope::render_unsigned` (around a canonical SED) and the `signal` renderers
/// write them. The digest is taken over those bytes as they are: parsing and
/// canonicalising the envelope again would cost about a quarter of the signing
/// path. Debug builds (so every test) check the bytes against libxml2's C14N of
/// the parsed document; the interoperability tests check them against xmlsec1.
pub fn sign_rendered(unsigned: &[u8], signer: &Signer) -> Result<Vec<u8>, SignError> {
    crate::store::debug_assert_outside_transaction("signing");
    let canonical = unsigned
        .strip_prefix(xml::DECLARATION_LINE.as_bytes())
        .and_then(|rest| rest.strip_suffix(b"\n"))
        .ok_or_else(|| SignError::Document("not a document rendered for signing".into()))?;
    #[cfg(debug_assertions)]
    {
        let doc = xml::parse(unsigned, &XmlLimits::default())
            .map_err(|e| SignError::Document(e.to_string()))?;
        let c14n =
            xml::c14n(&doc, C14nScope::Document).map_err(|e| SignError::Document(e.to_string()))?;
        // The content is not printed: it may hold personal data.
        let first_difference = c14n.iter().zip(canonical).position(|(a, b)| a != b);
        assert!(
            c14n == canonical,
            "a rendered document is not in canonical form (lengths {} and {}, first difference at {:?})",
            c14n.len(),
            canonical.len(),
            first_difference
        );
    }
    // In canonical form the root's end tag is the last tag.
    let end = canonical
        .windows(2)
        .rposition(|w| w == b"</")
        .ok_or_else(|| SignError::Document("the root element has no end tag".into()))?;
    enveloped(
        unsigned,
        canonical,
        xml::DECLARATION_LINE.len() + end,
        signer,
    )
}

/// Insert the enveloped Signature over `canonical` (the document's exclusive
/// canonical form) before the root's end tag at `end_tag_at` in `unsigned`.
fn enveloped(
    unsigned: &[u8],
    canonical: &[u8],
    end_tag_at: usize,
    signer: &Signer,
) -> Result<Vec<u8>, SignError> {
    let digest = B64.encode(openssl::sha::sha256(canonical));
    let children = signed_info_children(&digest);
    // Exclusive C14N of SignedInfo in place renders the ds namespace on it.
    let canonical_signed_info =
        format!("<ds:SignedInfo xmlns:ds=\"{DS}\">{children}</ds:SignedInfo>");
    let value = B64.encode(signer.sign_bytes(canonical_signed_info.as_bytes())?);
    let signature = format!(
        "<ds:Signature xmlns:ds=\"{DS}\"><ds:SignedInfo>{children}</ds:SignedInfo><ds:SignatureValue>{value}</ds:SignatureValue>\
<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        signer.cert_b64
    );
    let mut out = Vec::with_capacity(unsigned.len() + signature.len());
    out.extend_from_slice(&unsigned[..end_tag_at]);
    out.extend_from_slice(signature.as_bytes());
    out.extend_from_slice(&unsigned[end_tag_at..]);
    Ok(out)
}

fn qualified_name(node: RoNode) -> String {
    match node
        .get_namespace()
        .map(|n| n.get_prefix())
        .filter(|p| !p.is_empty())
    {
        Some(prefix) => format!("{prefix}:{}", node.get_name()),
        None => node.get_name(),
    }
}

fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(compact).ok()
}

fn profile(msg: impl Into<String>) -> VerifyError {
    VerifyError::Profile(msg.into())
}

fn algorithm(node: RoNode, expected: &str, what: &str) -> Result<(), VerifyError> {
    if !elements(node).is_empty() {
        return Err(profile(format!("{what} has parameters")));
    }
    match node.get_property_no_ns("Algorithm") {
        Some(a) if a == expected => Ok(()),
        Some(a) => Err(profile(format!("{what} {a} is not allowed"))),
        None => Err(profile(format!("{what} has no Algorithm"))),
    }
}

fn count_signatures(node: RoNode) -> usize {
    let own = usize::from(is(node, DS, "Signature"));
    own + elements(node)
        .into_iter()
        .map(count_signatures)
        .sum::<usize>()
}

/// Verify the enveloped signature of `doc` against the registry's certificates
/// for its signer (`trusted`; two during a rotation). The profile is enforced
/// before any cryptography.
pub fn verify(doc: &Document, trusted: &[TrustedCert]) -> Result<(), VerifyError> {
    crate::store::debug_assert_outside_transaction("verifying a signature");
    let root = doc.get_root_readonly().ok_or(VerifyError::Unsigned)?;
    let n = count_signatures(root);
    if n == 0 {
        return Err(VerifyError::Unsigned);
    }
    if n > 1 {
        return Err(VerifyError::Several(n));
    }
    let children = elements(root);
    let sig = match children.last() {
        Some(last) if is(*last, DS, "Signature") => *last,
        _ => return Err(VerifyError::Misplaced),
    };
    let parts = elements(sig);
    let names: Vec<String> = parts.iter().map(|p| p.get_name()).collect();
    if names != ["SignedInfo", "SignatureValue", "KeyInfo"]
        || parts.iter().any(|p| xml::ns(*p) != DS)
    {
        return Err(profile(
            "Signature must hold exactly SignedInfo, SignatureValue, KeyInfo",
        ));
    }
    let (signed_info, value, key_info) = (parts[0], parts[1], parts[2]);
    let si = elements(signed_info);
    if si.len() != 3
        || !is(si[0], DS, "CanonicalizationMethod")
        || !is(si[1], DS, "SignatureMethod")
        || !is(si[2], DS, "Reference")
    {
        return Err(profile(
            "SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference",
        ));
    }
    algorithm(si[0], ALG_EXC_C14N, "CanonicalizationMethod")?;
    algorithm(si[1], ALG_RSA_SHA256, "SignatureMethod")?;
    let reference = si[2];
    if reference.get_property_no_ns("URI").as_deref() != Some("") {
        return Err(profile(
            "the Reference URI must be empty (the whole document)",
        ));
    }
    let r = elements(reference);
    if r.len() != 3
        || !is(r[0], DS, "Transforms")
        || !is(r[1], DS, "DigestMethod")
        || !is(r[2], DS, "DigestValue")
    {
        return Err(profile(
            "the Reference must hold Transforms, DigestMethod, DigestValue",
        ));
    }
    let transforms = elements(r[0]);
    if transforms.len() != 2 || !transforms.iter().all(|t| is(*t, DS, "Transform")) {
        return Err(profile("exactly two transforms are allowed"));
    }
    algorithm(transforms[0], ALG_ENVELOPED, "the first Transform")?;
    algorithm(transforms[1], ALG_EXC_C14N, "the second Transform")?;
    algorithm(r[1], ALG_SHA256, "DigestMethod")?;
    let digest =
        b64_decode(&r[2].get_content()).ok_or_else(|| profile("DigestValue is not base64"))?;

    // KeyInfo: exactly one X509Data with exactly one X509Certificate, which must
    // be a certificate the registry holds for the signer.
    let ki = elements(key_info);
    if ki.len() != 1 || !is(ki[0], DS, "X509Data") {
        return Err(profile("KeyInfo must hold exactly one X509Data"));
    }
    let xd = elements(ki[0]);
    if xd.len() != 1 || !is(xd[0], DS, "X509Certificate") {
        return Err(profile("X509Data must hold exactly one X509Certificate"));
    }
    let embedded =
        b64_decode(&xd[0].get_content()).ok_or_else(|| profile("X509Certificate is not base64"))?;
    if trusted.is_empty() {
        return Err(VerifyError::UnknownSigner);
    }
    let cert = trusted
        .iter()
        .find(|c| c.der == embedded)
        .ok_or(VerifyError::CertificateMismatch)?;
    if !cert.valid_at(chrono::Utc::now().timestamp()) {
        return Err(VerifyError::CertificateNotValidNow);
    }

    let limits_ok = |e: xml::XmlError| profile(e.to_string());
    let canonical = xml::c14n(doc, C14nScope::DocumentWithout(sig)).map_err(limits_ok)?;
    if openssl::sha::sha256(&canonical).as_slice() != digest.as_slice() {
        return Err(VerifyError::DigestMismatch);
    }
    let canonical_si = xml::c14n(doc, C14nScope::Subtree(signed_info)).map_err(limits_ok)?;
    let sig_value =
        b64_decode(&value.get_content()).ok_or_else(|| profile("SignatureValue is not base64"))?;
    let mut verifier = Verifier::new(MessageDigest::sha256(), &cert.public_key)
        .map_err(|_| VerifyError::BadSignature)?;
    verifier
        .update(&canonical_si)
        .map_err(|_| VerifyError::BadSignature)?;
    match verifier.verify(&sig_value) {
        Ok(true) => Ok(()),
        _ => Err(VerifyError::BadSignature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::registry::load_certificate;
    use std::path::Path;

    pub(crate) fn own_key(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn signer(name: &str) -> Signer {
        own_key(Path::new(&format!("fixtures/pki/{name}.key.pem")));
        Signer::from_files(
            Path::new(&format!("fixtures/pki/{name}.key.pem")),
            Path::new(&format!("fixtures/pki/{name}.crt.pem")),
        )
        .unwrap()
    }
    fn cert(name: &str) -> TrustedCert {
        load_certificate(Path::new(&format!("fixtures/pki/{name}.crt.pem"))).unwrap()
    }
    fn parse(b: &[u8]) -> Document {
        xml::parse(b, &XmlLimits::default()).unwrap()
    }

    const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r:Root xmlns:r=\"urn:r\"><r:A b=\"1\">Dupré</r:A>\n</r:Root>\n";

    #[test]
    fn sign_then_verify_and_tamper() {
        let signed = sign(DOC.as_bytes(), &signer("BE_ONSS")).unwrap();
        verify(&parse(&signed), &[cert("BE_ONSS")]).unwrap();
        // Another institution's certificate: refused even though the signature is valid.
        assert_eq!(
            verify(&parse(&signed), &[cert("BE_ONEM")]),
            Err(VerifyError::CertificateMismatch)
        );
        assert_eq!(
            verify(&parse(&signed), &[]),
            Err(VerifyError::UnknownSigner)
        );
        let tampered = String::from_utf8(signed.clone())
            .unwrap()
            .replace("Dupré", "Dupont");
        assert_eq!(
            verify(&parse(tampered.as_bytes()), &[cert("BE_ONSS")]),
            Err(VerifyError::DigestMismatch)
        );
        assert_eq!(
            verify(&parse(DOC.as_bytes()), &[cert("BE_ONSS")]),
            Err(VerifyError::Unsigned)
        );
    }

    #[test]
    fn a_rendered_document_signs_as_a_parsed_one() {
        // DOC is canonical after its declaration line: both ways give the same bytes
        // (RSA PKCS#1 v1.5 is deterministic).
        let s = signer("BE_ONSS");
        let rendered = sign_rendered(DOC.as_bytes(), &s).unwrap();
        assert_eq!(rendered, sign(DOC.as_bytes(), &s).unwrap());
        verify(&parse(&rendered), &[cert("BE_ONSS")]).unwrap();
        // A signal with a hostile message id still renders a well-formed, signed
        // document.
        let error = crate::sed::signal::render_error(
            "x\u{1}<y>&\"",
            crate::sed::signal::ErrorCode::Malformed,
            "it's \"bad\"",
        );
        let signed = sign_rendered(error.as_bytes(), &s).unwrap();
        verify(&parse(&signed), &[cert("BE_ONSS")]).unwrap();
        // Not rendered for signing (no declaration line): refused, not signed wrongly.
        assert!(matches!(
            sign_rendered(b"<r/>", &s),
            Err(SignError::Document(_))
        ));
    }

    #[test]
    fn the_profile_is_enforced() {
        let signed = String::from_utf8(sign(DOC.as_bytes(), &signer("BE_ONSS")).unwrap()).unwrap();
        let c = [cert("BE_ONSS")];
        let sha1 = signed.replace(ALG_SHA256, "http://www.w3.org/2000/09/xmldsig#sha1");
        assert!(matches!(
            verify(&parse(sha1.as_bytes()), &c),
            Err(VerifyError::Profile(_))
        ));
        let hmac = signed.replace(
            ALG_RSA_SHA256,
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
        );
        assert!(matches!(
            verify(&parse(hmac.as_bytes()), &c),
            Err(VerifyError::Profile(_))
        ));
        let uri = signed.replace("URI=\"\"", "URI=\"#x\"");
        assert!(matches!(
            verify(&parse(uri.as_bytes()), &c),
            Err(VerifyError::Profile(_))
        ));
        // Moved: signature no longer the last child.
        let moved = signed.replace(
            "</ds:Signature></r:Root>",
            "</ds:Signature><r:Extra/></r:Root>",
        );
        assert_eq!(
            verify(&parse(moved.as_bytes()), &c),
            Err(VerifyError::Misplaced)
        );
        let start = signed.find("<ds:Signature").unwrap();
        let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let twice = format!(
            "{}{}{}",
            &signed[..end],
            &signed[start..end],
            &signed[end..]
        );
        assert_eq!(
            verify(&parse(twice.as_bytes()), &c),
            Err(VerifyError::Several(2))
        );
    }

    #[test]
    fn keys_readable_by_others_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        std::fs::copy("fixtures/pki/BE_ONSS.key.pem", &key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Signer::from_files(&key, Path::new("fixtures/pki/BE_ONSS.crt.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("chmod 600") && !err.contains("PRIVATE"),
            "{err}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Signer::from_files(&key, Path::new("fixtures/pki/BE_ONSS.crt.pem")).is_ok());
    }

    #[test]
    fn an_expired_registered_certificate_is_refused() {
        use openssl::asn1::Asn1Time;
        use openssl::x509::{X509Builder, X509NameBuilder};
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "expired").unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::from_unix(1_600_000_000).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_unix(1_700_000_000).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = b.build();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.pem"), cert.to_pem().unwrap()).unwrap();
        let signer = Signer::from_pem(
            &key.private_key_to_pem_pkcs8().unwrap(),
            &cert.to_pem().unwrap(),
        )
        .unwrap();
        let signed = sign(DOC.as_bytes(), &signer).unwrap();
        let trusted = load_certificate(&dir.path().join("c.pem")).unwrap();
        assert!(!trusted.valid_at(chrono::Utc::now().timestamp()));
        assert_eq!(
            verify(&parse(&signed), &[trusted]),
            Err(VerifyError::CertificateNotValidNow)
        );
    }
}
