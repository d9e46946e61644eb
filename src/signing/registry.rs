//! The institution registry: which institutions exist, in which country, which
//! BUCs and roles each handles, and the certificates that are trusted for each
//! institution and each access point. It is the only trust store: a document's
//! embedded certificate is compared with the one listed here, never trusted as is.
//! It also says which data-model versions each access point accepts (`sed_versions`;
//! absent: the versions this switch speaks, `Switch::versions_accepted_by`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use openssl::pkey::{PKey, Public};
use openssl::x509::X509;
use serde::Deserialize;

use crate::ids::{BucType, Country, InstitutionId, Role, SedVersion};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A certificate the registry trusts, with its DER form for exact comparison.
#[derive(Clone)]
pub struct TrustedCert {
    pub der: Vec<u8>,
    pub public_key: PKey<Public>,
    pub not_after: String,
    /// Validity period, seconds since the epoch.
    pub not_before_s: i64,
    pub not_after_s: i64,
}

impl TrustedCert {
    pub fn valid_at(&self, now_s: i64) -> bool {
        self.not_before_s <= now_s && now_s <= self.not_after_s
    }
}

/// Seconds since the epoch of an ASN.1 time.
fn epoch_s(t: &openssl::asn1::Asn1TimeRef) -> Result<i64, String> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).map_err(|e| e.to_string())?;
    let d = epoch.diff(t).map_err(|e| e.to_string())?;
    Ok(i64::from(d.days) * 86_400 + i64::from(d.secs))
}

impl std::fmt::Debug for TrustedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedCert(not_after={})", self.not_after)
    }
}

#[derive(Debug, Clone)]
pub struct Competence {
    /// A BUC type, or a prefix followed by `*`.
    pub buc: String,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone)]
pub struct Institution {
    pub id: InstitutionId,
    pub name: String,
    pub certificates: Vec<TrustedCert>,
    pub certificate_paths: Vec<PathBuf>,
    pub competences: Vec<Competence>,
    /// A liaison body: foreign institutions may address it, and the routing rules
    /// deliver what it receives to the competent institution behind it.
    pub liaison: bool,
}

impl Institution {
    pub fn handles(&self, buc: &BucType, role: Role) -> bool {
        self.competences.iter().any(|c| {
            let matches = match c.buc.strip_suffix('*') {
                Some(prefix) => buc.as_str().starts_with(prefix),
                None => c.buc == buc.as_str(),
            };
            matches && c.roles.contains(&role)
        })
    }
}

#[derive(Debug, Clone)]
pub struct Registry {
    pub institutions: BTreeMap<InstitutionId, Institution>,
    pub access_points: BTreeMap<Country, Vec<TrustedCert>>,
    pub access_point_paths: BTreeMap<Country, Vec<PathBuf>>,
    /// The data-model versions an access point accepts, for those whose entry lists
    /// them (`sed_versions`); an access point not here accepts the versions this
    /// switch speaks.
    pub access_point_versions: BTreeMap<Country, Vec<SedVersion>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    #[serde(default)]
    access_point: Vec<RawAccessPoint>,
    #[serde(default)]
    institution: Vec<RawInstitution>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccessPoint {
    country: Country,
    certificates: Vec<PathBuf>,
    /// The data-model versions it accepts (`["4.2", "4.3"]`); absent: the versions
    /// this switch speaks.
    #[serde(default)]
    sed_versions: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstitution {
    id: InstitutionId,
    name: String,
    certificates: Vec<PathBuf>,
    #[serde(default)]
    competences: Vec<RawCompetence>,
    #[serde(default)]
    liaison: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompetence {
    buc: String,
    roles: Vec<Role>,
}

/// An access point's `sed_versions`, checked: each a data-model version that exists
/// (`SedVersion::KNOWN`), none twice, at least one.
fn accepted_versions(country: &Country, listed: &[String]) -> Result<Vec<SedVersion>, String> {
    if listed.is_empty() {
        return Err(format!(
            "access point {country}: sed_versions is empty (leave it out to mean the versions this switch speaks)"
        ));
    }
    let mut versions: Vec<SedVersion> = Vec::with_capacity(listed.len());
    for v in listed {
        let version = SedVersion::parse(v)
            .map_err(|e| format!("access point {country}: sed_versions: {e}"))?;
        if !version.is_known() {
            return Err(format!(
                "access point {country}: sed_versions: unknown data-model version {v} (known: {})",
                SedVersion::KNOWN.join(", ")
            ));
        }
        if versions.contains(&version) {
            return Err(format!(
                "access point {country}: sed_versions lists {v} twice"
            ));
        }
        versions.push(version);
    }
    Ok(versions)
}

/// Load one PEM certificate.
pub fn load_certificate(path: &Path) -> Result<TrustedCert, RegistryError> {
    let pem = std::fs::read(path).map_err(|source| RegistryError::Read {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |m: String| RegistryError::Invalid {
        path: path.to_owned(),
        message: m,
    };
    let cert = X509::from_pem(&pem).map_err(|e| invalid(format!("not a PEM certificate: {e}")))?;
    let public_key = cert
        .public_key()
        .map_err(|e| invalid(format!("no public key: {e}")))?;
    if public_key.rsa().is_err() {
        return Err(invalid("only RSA keys are supported (RSA-SHA256)".into()));
    }
    let der = cert.to_der().map_err(|e| invalid(e.to_string()))?;
    Ok(TrustedCert {
        der,
        public_key,
        not_before_s: epoch_s(cert.not_before()).map_err(invalid)?,
        not_after_s: epoch_s(cert.not_after()).map_err(invalid)?,
        not_after: cert.not_after().to_string(),
    })
}

impl Registry {
    pub fn load(path: &Path) -> Result<Registry, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Read {
            path: path.to_owned(),
            source,
        })?;
        let raw: RawRegistry = toml::from_str(&text).map_err(|e| RegistryError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut reg = Registry {
            institutions: BTreeMap::new(),
            access_points: BTreeMap::new(),
            access_point_paths: BTreeMap::new(),
            access_point_versions: BTreeMap::new(),
        };
        for ap in raw.access_point {
            if let Some(listed) = &ap.sed_versions {
                let versions = accepted_versions(&ap.country, listed).map_err(|message| {
                    RegistryError::Invalid {
                        path: path.to_owned(),
                        message,
                    }
                })?;
                reg.access_point_versions
                    .insert(ap.country.clone(), versions);
            }
            let paths: Vec<PathBuf> = ap.certificates.iter().map(|c| base.join(c)).collect();
            let certs = paths
                .iter()
                .map(|p| load_certificate(p))
                .collect::<Result<Vec<_>, _>>()?;
            reg.access_points.insert(ap.country.clone(), certs);
            reg.access_point_paths.insert(ap.country, paths);
        }
        for i in raw.institution {
            if reg.institutions.contains_key(&i.id) {
                return Err(RegistryError::Invalid {
                    path: path.to_owned(),
                    message: format!("institution {} listed twice", i.id),
                });
            }
            if i.certificates.is_empty() || i.certificates.len() > 2 {
                return Err(RegistryError::Invalid {
                    path: path.to_owned(),
                    message: format!(
                        "institution {} needs one certificate, or two during a rotation",
                        i.id
                    ),
                });
            }
            let paths: Vec<PathBuf> = i.certificates.iter().map(|c| base.join(c)).collect();
            let certificates = paths
                .iter()
                .map(|p| load_certificate(p))
                .collect::<Result<Vec<_>, _>>()?;
            let competences = i
                .competences
                .into_iter()
                .map(|c| Competence {
                    buc: c.buc,
                    roles: c.roles,
                })
                .collect();
            reg.institutions.insert(
                i.id.clone(),
                Institution {
                    id: i.id,
                    name: i.name,
                    certificates,
                    certificate_paths: paths,
                    competences,
                    liaison: i.liaison,
                },
            );
        }
        Ok(reg)
    }

    /// Certificates that expire before `now_s + window_s` (already expired included):
    /// (owner, not_after) pairs, for health and metrics.
    pub fn expiring(&self, now_s: i64, window_s: i64) -> Vec<(String, String)> {
        let inst = self
            .institutions
            .values()
            .flat_map(|i| i.certificates.iter().map(move |c| (i.id.to_string(), c)));
        let aps = self
            .access_points
            .iter()
            .flat_map(|(c, certs)| certs.iter().map(move |x| (format!("access point {c}"), x)));
        inst.chain(aps)
            .filter(|(_, c)| c.not_after_s < now_s + window_s)
            .map(|(who, c)| (who, c.not_after.clone()))
            .collect()
    }

    /// The data-model versions the access point of `country` accepts, when its
    /// entry lists them (None: the versions this switch speaks).
    pub fn accepted_versions(&self, country: &Country) -> Option<&[SedVersion]> {
        self.access_point_versions.get(country).map(Vec::as_slice)
    }

    pub fn institution(&self, id: &InstitutionId) -> Option<&Institution> {
        self.institutions.get(id)
    }

    /// Institutions of one country (the ones an access point serves).
    pub fn institutions_of(&self, country: &Country) -> impl Iterator<Item = &Institution> {
        self.institutions
            .values()
            .filter(move |i| &i.id.country() == country)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_fixture_registry() {
        let reg = Registry::load(Path::new("fixtures/registry.toml")).unwrap();
        let onss = reg
            .institution(&InstitutionId::parse("BE:ONSS").unwrap())
            .unwrap();
        assert!(onss.handles(&BucType::parse("LA_BUC_02").unwrap(), Role::Counterparty));
        assert!(!onss.handles(&BucType::parse("P_BUC_01").unwrap(), Role::CaseOwner));
        let fam = reg
            .institution(&InstitutionId::parse("BE:OPGROEIEN").unwrap())
            .unwrap();
        assert!(!fam.handles(&BucType::parse("H_BUC_01").unwrap(), Role::CaseOwner));
        assert!(fam.handles(&BucType::parse("H_BUC_01").unwrap(), Role::Counterparty));
        // Family benefits are regional since 2019: no federal agency any more.
        assert!(
            reg.institution(&InstitutionId::parse("BE:FAMIFED").unwrap())
                .is_none()
        );
        assert!(
            reg.institution(&InstitutionId::parse("BE:INAMI").unwrap())
                .unwrap()
                .liaison
        );
        assert!(
            reg.access_points
                .contains_key(&Country::parse("NL").unwrap())
        );
        assert!(reg.institutions_of(&Country::parse("BE").unwrap()).count() >= 5);
        assert!(reg.institutions_of(&Country::parse("DE").unwrap()).count() >= 2);
        let v = |s: &str| SedVersion::parse(s).unwrap();
        assert_eq!(
            reg.accepted_versions(&Country::parse("NL").unwrap()),
            Some(&[v("4.2"), v("4.3")][..])
        );
        assert_eq!(
            reg.accepted_versions(&Country::parse("DE").unwrap()),
            Some(&[v("4.2")][..])
        );
        // Not listed: the versions the switch speaks.
        assert_eq!(reg.accepted_versions(&Country::parse("BE").unwrap()), None);
    }

    /// A registry whose one access point NL lists `versions` (TOML), loaded.
    fn with_versions(versions: &str) -> Result<Registry, RegistryError> {
        let dir = tempfile::tempdir().unwrap();
        let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pki/AP_NL.crt.pem");
        let file = dir.path().join("registry.toml");
        std::fs::write(
            &file,
            format!(
                "[[access_point]]\ncountry = \"NL\"\ncertificates = [{:?}]\nsed_versions = {versions}\n",
                cert.display().to_string()
            ),
        )
        .unwrap();
        Registry::load(&file)
    }

    #[test]
    fn an_access_point_s_versions_are_checked_at_load() {
        let reg = with_versions("[\"4.3\"]").unwrap();
        assert_eq!(
            reg.accepted_versions(&Country::parse("NL").unwrap()),
            Some(&[SedVersion::parse("4.3").unwrap()][..])
        );
        for (versions, expected) in [
            (
                "[\"4.9\"]",
                "unknown data-model version 4.9 (known: 4.0, 4.1, 4.2, 4.3, 4.4)",
            ),
            ("[\"4_3\"]", "access point NL: sed_versions: "),
            ("[\"4.2\", \"4.2\"]", "sed_versions lists 4.2 twice"),
            ("[]", "sed_versions is empty"),
        ] {
            let e = with_versions(versions).unwrap_err().to_string();
            assert!(e.contains(expected), "{versions}: {e}");
        }
    }
}
