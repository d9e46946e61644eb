#!/usr/bin/env python3
"""Generate the per-SED schemas and example SEDs of data-model versions 4.2 and 4.3.

How to run (Python 3.11 or later, no third-party module), from the repository root:

    python3 sed-schemas/generate.py           # (re)write the generated files
    python3 sed-schemas/generate.py --check   # exit 1 if a generated file is missing or stale

Its output is committed, like hand-written files: the switch and the tests read the files, never
this script. Edit the SPEC table below (or a title in buc-definitions/seds.toml), run the script,
then validate (a new SED also goes at the end of ADDED_LATER, which keeps the other fixtures as
they are):

    for v in 4.2 4.3; do for f in fixtures/sed/$v/*.xml; do t=$(basename $f .xml); \
      xmllint --noout --schema sed-schemas/$v/$t.xsd $f || echo FAIL $v $t; done; done

What it writes, for every data-model version V of VERSIONS and every SED type of
buc-definitions/seds.toml except the hand-written ones:
  sed-schemas/V/<SED>.xsd          one global element <SED>, built on the shared types of
                                   common.xsd (person block, institutions, periods, money ...);
  fixtures/sed/V/<SED>.xml         a valid example body with fictitious data;
  fixtures/sed/V/invalid/*.xml     negative examples of the shared types added for this catalogue
                                   (NEGATIVES below), each invalid for exactly one reason.

Never touched: the files of the base version 4.2 (BASE) written by hand: common.xsd (shared types are
added there by hand, by appending), the schemas and fixtures of A003, A004, A009, A012, H001, H002 and
X001 (HAND_WRITTEN) and the negative examples of HAND_WRITTEN_INVALID. For every other version they are
DERIVED from the base version's files (`derive`): the same text with the namespace, the schema version
and sedVer rewritten. Edit the 4.2 file and re-run.

Versions: 4.2 is sedGVer 4 / sedVer 2, 4.3 is sedGVer 4 / sedVer 3 (NAV's model of S040 for CDM 4.3,
package model/v43, sends sedGVer "4", sedVer "3" [CPI]; RINA 6.3 runs CDM 4.3 [CAT]; CDM 4.4 is sedVer
"4" [M-SED], so the specific version is the minor one). UNCERTAIN: no public source this project found
shows how the content of a SED differs between 4.2 and 4.3 (the EC's schema package is not public), so
the 4.3 catalogue has the same content as 4.2's; only the namespace and sedVer differ. A difference
found later goes into SPEC (or a 4.3 hand-written file) for that version alone.

The element names are this project's own rendering of the SED content: the European Commission's
SED schema package is not public, so these schemas are not the official ones. The content of each
SED is the person block (or none, for the liaison bodies' global notes), its own sections as a
public source describes them (the EC's SED forms, NAV's models and test data: each SPEC entry
cites its source), and the optional LocalCaseNumbers. Where no source describes a SED's fields, its
body follows its title, its place in the BUC and its legal basis, and the entry says "UNCERTAIN: no
public source describes its fields"; the few SEDs not modelled yet keep a generic request or reply
body, marked so in SPEC.
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEDS_TOML = ROOT / "buc-definitions" / "seds.toml"
# Data-model version -> sedVer (sedGVer is "4" for both); see the docstring for the sources.
VERSIONS = {"4.2": "2", "4.3": "3"}
SED_GVER = "4"
# The version whose hand-written files the other versions' are derived from.
BASE = "4.2"

HAND_WRITTEN = {"A003", "A004", "A009", "A012", "H001", "H002", "X001"}
HAND_WRITTEN_INVALID = ["A003-bad-country.xml", "A003-bad-date.xml", "A003-missing-familyname.xml",
                        "A009-unknown-element.xml"]


def ns(version):
    """The SED namespace of a data-model version: http://ec.europa.eu/eessi/ns/4_2 for 4.2."""
    return "http://ec.europa.eu/eessi/ns/" + version.replace(".", "_")


def schema_dir(version):
    return ROOT / "sed-schemas" / version


def fixture_dir(version):
    return ROOT / "fixtures" / "sed" / version


def invalid_dir(version):
    return fixture_dir(version) / "invalid"

# ---------------------------------------------------------------------------------------------
# The table. A field is F(name, type, occurs, example):
#   type    a type of common.xsd or xs:boolean / xs:nonNegativeInteger, E([...]) for a local
#           enumeration, or a list of fields for a local complex type;
#   occurs  "1" (default), "?" optional, "*" any number, "+" at least one;
#   example the fixture value of a simple field (default: DEFAULTS below).
# A SED is S(sections, persons): sections are fields at the root after the person block (persons None:
# the insured person; [] for a liaison bodies' global note (NOTE, GLOBAL), whose persons, if any, are in
# its individual part).
# ---------------------------------------------------------------------------------------------


class E:
    def __init__(self, values):
        self.values = values


def F(name, typ, occurs="1", ex=None):
    return (name, typ, occurs, ex)


def S(*sections, persons=None):
    return {"sections": list(sections), "persons": persons}


NES, T2, T4 = "NonEmptyString", "Text2000Type", "Text4000Type"
D, C, B, N = "DateType", "CountryCodeType", "xs:boolean", "xs:nonNegativeInteger"
I, P, FP, M = "InstitutionType", "PeriodType", "FixedPeriodType", "MoneyType"
BANK, DOCS, REF = "BankAccountType", "DocumentListType", "ReferencedDocumentType"
IPS, DEC, OUT, PCT = "InsurancePeriodsType", "DecisionOutcomeType", "ReplyOutcomeType", "PercentageType"
PER, PIN, ART = "PersonType", "PINType", "ArticleType"

INSURED = [F("InsuredPerson", PER)]
CONTEXT = [F("ContextPerson", "ContextPersonType")]
EVENT = E(["accident_at_work", "occupational_disease"])
BENEFIT = E(["old_age", "survivor", "invalidity"])


def REQ(subject):
    return S(F("Request", "InformationRequestType", ex=subject))


def REP():
    return S(F("Reply", "InformationReplyType"))


def INFO(text):
    return S(F("Information", [F("Text", T4, ex=text), F("Documents", DOCS, "?")]))


def P3000(country, extra):
    return S(F("CountrySpecificInformation", [F("Country", E([country])), *extra,
                                              F("AdditionalInformation", T4, "?")]))


def NOTE(section, reference, *fields):
    """The global note of a cost-reimbursement SED: the issuing liaison body's reference, the
    fields of the note, the submission date. A bulk master document's individual part (its
    sub-documents) is added after the note by BULK_ITEMS below."""
    return S(F(section, [F("GlobalReference", NES, ex=reference), *fields, F("DateOfSubmission", D)]), persons=[])


# ---- Shared field lists of the non-sickness sectors' SEDs (addresses, P4000's periods; see SPEC) ----
ADDRESS_FIELDS = [F("Street", NES, ex="Rue de l'Exemple 27"), F("Town", NES, ex="Antwerpen"),
                  F("PostalCode", NES, "?", ex="2000"), F("Country", C, ex="BE")]


# The person of an individual claim in UB_BUC_04's reimbursement and interest SEDs (U020, U026) [CH-SED].
UB_CLAIM_PERSON = [F("FamilyName", NES, ex="Janssens"), F("Forename", NES, ex="Pieter"), F("DateBirth", D, ex="1990-03-14")]


def P4000_PERIOD(*extra):
    """A period of P4000's insurance history: the period, the country, the fields of its kind, whether
    the dates are uncertain, further information."""
    return [F("Period", P), F("Country", C, ex="BE"), *extra, F("UncertainDates", B, "?"),
            F("AdditionalInformation", T2, "?")]


# Source tags of the SPEC comments: those of buc-definitions/seds.toml's header and of
# ../shared/domain/eessi.md section 0 (CAT, SVAR, WSED, M-SED, M-MOCK, PRE, CPI, RDN...), plus:
#   [WAPP]   navikt/eux-web-app @166d40a0: src/declarations/x002.d.ts, x003.d.ts, x004.d.ts, x007.d.ts (the X-SED
#            models), src/applications/SvarSed/<Section>/<Section>.tsx (the value lists offered) with
#            public/locales/nb/el.json (their labels), src/mocks/seds/*.json (example bodies)
#   [EPDF]   navikt/eux-pdf @7b777c68: src/test/resources/mocks/u029-master-document.json,
#            u029-child-document-001.json, src/main/kotlin/no/nav/eux/pdf/service/U029PdfGenerator.kt (RINA's
#            U029 master and child documents, CDM 4.3)
#   [REG883] Regulation (EC) No 883/2004, consolidated text (EUR-Lex, CELEX 32004R0883), the article named
#   [REG987] Regulation (EC) No 987/2009, consolidated text (EUR-Lex, CELEX 32009R0987), the article named
#   [REC-GUIDE] the EC's "Guidelines for the use of Recovery SEDs and Flows" v1.0 (February 2011), as copied at
#            https://docsbay.net/recovery-guidelines-for-business-flows-and-seds (its table of business flows)
#            (a form's fields are read from the article only where no copy of the form shows them: each such
#            entry says UNCERTAIN)
SPEC = {
    # ---- LA ----
    "A001": S(F("Employer", "EmployerType", "*"),
              F("ExceptionRequest", [F("RequestedMemberState", C, ex="BE"), F("RequestedPeriod", FP),
                                     F("CurrentMemberState", C, ex="NL"), F("RelevantArticle", ART, ex="16_1"),
                                     F("Reason", T2, ex="Temporary assignment of a specialist for a project longer than 24 months."),
                                     F("IsChangeRequest", B, "?")])),
    # A002: the answer to a request for exception: not granted, or granted for another period (that
    # period), and the reasons [M-SED medlemskap/impl/VedtakA002.kt, SvarAnmodningUnntakBeslutning.kt]
    "A002": S(F("Rejection", [F("Outcome", E(["not_granted", "granted_for_other_period"]), ex="granted_for_other_period"),
                              F("OtherPeriod", P, "?"),
                              F("Reason", T2, ex="The exception is accepted for the first 12 months only.")])),
    # A005 (LA_BUC_06): NAV's model of A005 adds nothing to the common part of the applicable-legislation
    # SEDs (the person, the employers) [M-SED medlemskap/impl/MedlemskapA005.kt: empty]: the request itself
    # is what is asked (the items, the period concerned, the documents, a reply date). UNCERTAIN: no public
    # source shows the EC form's request fields; they follow the title and LA_BUC_06's flow (A005 -> A006).
    "A005": S(F("Employer", "EmployerType", "*"),
              F("RequestForMoreInformation", [F("ConcernedPeriod", P, "?"),
                                              F("RequestedItem", NES, "+", ex="Employment contract and place of work"),
                                              F("Question", T2, ex="Please send the employment contract and say where the work is done."),
                                              F("RequestedDocuments", DOCS, "?"), F("ReplyBefore", D, "?")])),
    # A006: the reply to A005 [M-SED MedlemskapA006.kt: empty, the common part only]: the answer per item
    # asked, the period it concerns, the documents sent. UNCERTAIN: fields follow the title and A005.
    "A006": S(F("Employer", "EmployerType", "*"),
              F("ReplyToRequestForMoreInformation", [F("Outcome", OUT),
                                                     F("AnsweredItem", [F("Item", NES, ex="Employment contract and place of work"),
                                                                        F("Answer", T2, ex="The work is done at the client's site in Antwerpen.")], "*"),
                                                     F("ConcernedPeriod", P, "?"), F("Text", T4, "?"),
                                                     F("ProvidedDocuments", DOCS, "?")])),
    "A007": S(F("ProvisionalDecision", [F("MemberStateWhichLegislationApplies", C, ex="BE"),
                                         F("ApplicableLegislationPeriod", P), F("RelevantArticle", ART),
                                         F("Reason", T2, "?")])),
    # A008: its purpose (a change, or activity in two or more States); the change (the date it takes effect,
    # the period, a new address, a new place of work, a new name); the activity in two or more States
    # (the State of residence, the start of the activity) [M-SED MedlemskapA008.kt, nav/EndringA008.kt,
    # nav/EndringA008Bruker.kt, nav/MedlemskapA008Bruker.kt, nav/ArbeidIFlereLand.kt, nav/Adresse.kt,
    # controller/dto/A008Formaal.kt]; title [BSV] A008_en.htm (CDM 4.2)
    "A008": S(F("RelevantInformation", [
        F("Purpose", E(["notification_of_change", "activity_in_two_or_more_states"])),
        F("Change", [F("EffectiveFrom", D), F("Period", P, "?"),
                     F("NewAddress", ADDRESS_FIELDS, "?"), F("NewPlaceOfWork", ADDRESS_FIELDS, "?"),
                     F("NewName", [F("FamilyName", NES, ex="Verhoeven-Peeters"), F("Forename", NES, ex="Lotte")], "?"),
                     F("Text", T2, "?", ex="The person changed employer on the given date.")], "?"),
        F("ActivityInTwoOrMoreStates", [F("MemberStateOfResidence", C, ex="BE"), F("ActivityStartDate", D, "?")], "?")])),
    "A010": S(F("Notification", [F("MemberStateWhichLegislationApplies", C, ex="BE"),
                                  F("ApplicableLegislationPeriod", P), F("RelevantArticle", ART, ex="11_3_a"),
                                  F("IsChangeDecision", B)])),
    "A011": S(F("Acceptance", [F("MemberStateWhichLegislationApplies", C, ex="BE"), F("AcceptedPeriod", FP),
                               F("Remarks", T2, "?")])),
    # ---- AW (DA) ----
    "DA001": S(F("CertificationRequest", [F("Event", EVENT), F("EventDate", D), F("StayOrResidence", E(["stay", "residence"])),
                                           F("Remarks", T2, "?")])),
    "DA002": S(F("Certification", [F("Event", EVENT), F("EventDate", D), F("EntitlementPeriod", P),
                                    F("CompetentInstitution", I)])),
    # DA003: the cancellation of the certification of the right to benefits in kind (DA002): the certification
    # cancelled, the event, the date from which it no longer holds and why. UNCERTAIN: no public source shows
    # the form's fields; they follow the title and DA002 (the certification it cancels).
    "DA003": S(F("Cancellation", [F("CancelledCertification", REF, "?"), F("Event", EVENT), F("EventDate", D),
                                  F("CancelledFrom", D),
                                  F("ReasonType", E(["not_recognised_as_accident_at_work_or_occupational_disease",
                                                     "not_insured_on_event_date", "other"])),
                                  F("Reason", T2, ex="The accident was not recognised as an accident at work.")])),
    # DA003A: the reply to DA003: the cancellation acknowledged, or contested with the reason; the date the
    # institution of the place of stay or residence stopped providing benefits in kind, and what it provided
    # after the cancellation. UNCERTAIN: fields follow the title and the DA003 -> DA003A pair [SVAR].
    "DA003A": S(F("Acknowledgement", [F("Outcome", E(["acknowledged", "contested"])), F("BenefitsInKindEndedOn", D, "?"),
                                      F("BenefitsProvidedAfterCancellation", M, "?"), F("Remarks", T2, "?")])),
    "DA004": S(F("RatesRequest", [F("Treatment", NES, ex="Physiotherapy after a knee injury"), F("TreatmentPeriod", FP),
                                   F("Question", T2, ex="Please send the rates applicable to this treatment.")])),
    # DA005: the reply to DA004 with the rates (tariffs) of the institution of the place of stay or residence
    # for the treatment asked about (Article 36 of Regulation 883/2004 [REG883]): per rate the item, the amount, its unit, the date it applies from; the legal basis.
    # UNCERTAIN: the form's own fields are not public; they follow the title and the request (DA004).
    "DA005": S(F("RatesReply", [F("Treatment", NES, ex="Physiotherapy after a knee injury"),
                                F("Rate", [F("Description", T2, ex="Rate per physiotherapy session, fixed by the national tariff."),
                                           F("Amount", M), F("Unit", E(["per_session", "per_day", "per_item", "flat_rate"])),
                                           F("ValidFrom", D, "?")], "+"),
                                F("LegalBasis", NES, "?", ex="National tariff of the health insurance"),
                                F("Remarks", T2, "?")])),
    "DA006": S(F("TreatmentRequest", [F("Treatment", NES, ex="Knee surgery"), F("PlannedPeriod", P),
                                       F("TreatingInstitution", NES, ex="Fictitious University Hospital"),
                                       F("EstimatedCost", M, "?")])),
    "DA007": S(F("AuthorisationReply", [F("Outcome", DEC), F("AuthorisedPeriod", P, "?"), F("Reason", T2, "?")])),
    "DA008": S(F("TreatmentInformation", [F("Treatment", NES, ex="Additional rehabilitation sessions"), F("TreatmentPeriod", P),
                                           F("Text", T2, ex="Ten further sessions are needed.")])),
    # AW_BUC_05, claims for reimbursement of benefits in kind on actual costs ([CH-SED] in seds.toml)
    "DA010": NOTE("ClaimForReimbursement", "CLA-2026-0001", F("TotalNumberOfIndividualClaims", N),
                  F("TotalAmountOfBenefits", M), F("FinancialYear", NES, ex="2025"), F("BankAccount", BANK)),
    "DA011": NOTE("ClaimAcknowledgement", "ACK-CLA-2026-0001", F("ClaimReference", NES, ex="CLA-2026-0001"),
                  F("DateOfReceipt", D)),
    "DA012": NOTE("CreditNote", "CRN-2026-0001", F("ClaimReference", NES, ex="CLA-2026-0001"),
                  F("TotalNumberOfCreditNotes", N), F("TotalAmountOfCreditNotes", M)),
    "DA012C": NOTE("CreditNoteContestation", "COC-CRN-2026-0001", F("CreditNoteReference", NES, ex="CRN-2026-0001"),
                   F("ContestedAmount", M), F("Reason", T2, ex="The credit note does not cover the second invoice.")),
    "DA012R": NOTE("CreditNoteContestationReply", "RPY-COC-CRN-2026-0001",
                   F("ContestationReference", NES, ex="COC-CRN-2026-0001"), F("Outcome", DEC), F("Reason", T2, "?")),
    "DA014": NOTE("DownPaymentInformation", "IDP-2026-0001", F("ClaimReference", NES, ex="CLA-2026-0001"),
                  F("TotalAmountOfBenefits", M), F("DownPaymentAmount", M), F("DownPaymentPercentage", PCT)),
    "DA015": NOTE("DownPaymentReply", "RPY-IDP-2026-0001", F("DownPaymentReference", NES, ex="IDP-2026-0001"),
                  F("Outcome", OUT)),
    "DA016": NOTE("ClaimContestation", "COC-2026-0001", F("ClaimReference", NES, ex="CLA-2026-0001"),
                  F("TotalNumberOfContestations", N), F("ContestedAmount", M),
                  F("Reason", T2, ex="The person was not insured with us on the treatment dates.")),
    "DA016A": NOTE("ContestationAcknowledgement", "ACK-COC-2026-0001",
                   F("ContestationReference", NES, ex="COC-2026-0001"), F("DateOfReceipt", D)),
    "DA017": NOTE("ContestationReply", "RPY-COC-2026-0001", F("ContestationReference", NES, ex="COC-2026-0001"),
                  F("Outcome", DEC), F("AcceptedAmount", M, "?"), F("Reason", T2, "?")),
    "DA018": NOTE("PaymentInformation", "PAY-2026-0001", F("ClaimReference", NES, ex="CLA-2026-0001"),
                  F("TotalNumberOfIndividualPayments", N), F("TotalPaymentAmount", M), F("PaymentDate", D)),
    "DA019": NOTE("PaymentAcknowledgement", "ACK-PAY-2026-0001", F("PaymentReference", NES, ex="PAY-2026-0001"),
                  F("TotalPaymentAmount", M), F("DateOfReceiptOfPayment", D)),
    "DA020": S(F("InterestClaim", [F("ClaimReference", NES, ex="REIMB-2025-0042"), F("Amount", M), F("DueDate", D),
                                    F("BankAccount", BANK)])),
    # DA021: acknowledgement of a claim for interest on late payment (ACK_ILP), Article 68 of Regulation
    # 987/2009 [CH-SED] DA021_en.htm (CDM 4.2): the global ILP and ACK_ILP references, the total number of
    # individual claims, the total interest amount in the creditor's currency, the date of receipt, the date
    # of submission.
    "DA021": NOTE("InterestClaimAcknowledgement", "ACK-ILP-2026-0001",
                  F("InterestClaimReference", NES, ex="ILP-2026-0001"), F("TotalNumberOfIndividualClaims", N),
                  F("TotalInterestAmount", M), F("DateOfReceipt", D)),
    # DA022C: contestation of a credit note for interest on late payment (COC_CRN_ILP) [CH-SED]
    # DA022C_en.htm (CDM 4.2): the global ILP, CRN_ILP and COC_CRN_ILP references, the total number and
    # amount of the credit note contestations, the date of submission.
    "DA022C": NOTE("InterestCreditNoteContestation", "COC-CRN-ILP-2026-0001",
                   F("InterestClaimReference", NES, ex="ILP-2026-0001"),
                   F("InterestCreditNoteReference", NES, ex="CRN-ILP-2026-0001"),
                   F("TotalNumberOfContestations", N), F("TotalAmountOfContestations", M)),
    # DA022R: reply to the contestation of a credit note for interest (RPY_COC_CRN_ILP) [CH-SED] DA022R_en.htm
    # (CDM 4.2): the reply code (01 contestation accepted, 02 rectified corresponding claim number, 03 credit
    # note correction, 99 other) and what each asks for; the global note as its sickness twin S034
    # [CH-SED] S034-4-1-en.htm (references, number and amount of accepted contestations).
    "DA022R": NOTE("InterestCreditNoteContestationReply", "RPY-COC-CRN-ILP-2026-0001",
                   F("ContestationReference", NES, ex="COC-CRN-ILP-2026-0001"),
                   F("ReplyToContestation", E(["contestation_accepted", "rectified_claim_number", "credit_note_correction",
                                               "other"]), ex="credit_note_correction"),
                   F("RectifiedClaimNumber", NES, "?", ex="ILP-2026-0001-2"), F("CorrectedAmount", M, "?"),
                   F("Other", T2, "?"), F("TotalNumberOfReplies", N), F("TotalAcceptedAmount", M)),
    "DA022": NOTE("InterestCreditNote", "CRN-ILP-2026-0001", F("InterestClaimReference", NES, ex="ILP-2026-0001"),
                  F("TotalNumberOfCreditNotes", N), F("TotalAmountOfCreditNotes", M)),
    # DA024: the contestation of an interest claim (COC_ILP), answered by DA025 [SVAR]; modelled on the
    # EC's form of the reply, DA025 [CH-SED] ("Reply to Contestation on Claim Interest on Late Payment"),
    # and on DA016, the contestation of a claim. UNCERTAIN: no public form of DA024 itself was found.
    "DA024": NOTE("InterestClaimContestation", "COC-ILP-2026-0001",
                  F("InterestClaimReference", NES, ex="ILP-2026-0001"), F("ContestedAmount", M),
                  F("Reason", T2, ex="The claim was paid within the time limit: no interest is due.")),
    # DA025: reply to the contestation of an interest claim (RPY_COC_ILP) [CH-SED] DA025_en.htm (CDM 4.2),
    # DA025-4-1-en.htm: the reply code (01 accepted in full, 02 partially accepted and invoice decreased,
    # 03 initial claim not paid in time, 04 not contested in time, 05 ILP submitted in time, 06 down payment
    # not paid in time, 07 down payment did not cover 90% of the claim, 99 other) and what each code asks
    # for (a date, an amount, the percentage covered, a text). UNCERTAIN: the excerpt shows the codes and
    # conditions, not the names of the global note's fields; those follow DA017.
    "DA025": NOTE("InterestContestationReply", "RPY-COC-ILP-2026-0001",
                  F("ContestationReference", NES, ex="COC-ILP-2026-0001"),
                  F("ReplyToContestation", E(["accepted_in_full", "partially_accepted_invoice_decreased",
                                              "initial_claim_not_paid_in_time", "initial_claim_not_contested_in_time",
                                              "ilp_submitted_in_time", "down_payment_not_paid_in_time",
                                              "down_payment_below_90_percent", "other"]), ex="partially_accepted_invoice_decreased"),
                  F("AcceptedAmount", M, "?"), F("Date", D, "?"), F("DownPaymentCoveredPercentage", PCT, "?"),
                  F("Other", T2, "?")),
    "DA026": NOTE("InterestPayment", "PAY-ILP-2026-0001", F("InterestClaimReference", NES, ex="ILP-2026-0001"),
                  F("TotalNumberOfIndividualPayments", N), F("TotalInterestAmount", M), F("TotalPaymentAmount", M)),
    "DA031": S(F("Claim", [F("Event", EVENT), F("EventDate", D), F("IncapacityPeriod", P), F("ClaimDate", D)])),
    "DA040": S(F("PaymentInformation", [F("Outcome", E(["paid", "not_paid"])), F("Period", P), F("DailyAmount", M, "?"),
                                         F("Reason", T2, "?")])),
    # DA041: the end of the incapacity for work after an accident at work or an occupational disease: the
    # event, the incapacity period, its end and why it ended, whether work was resumed and a permanent
    # incapacity is expected. UNCERTAIN: fields follow the title (its cash-benefit twin S048 [CAT]).
    "DA041": S(F("EndOfIncapacity", [F("Event", EVENT), F("EventDate", D), F("IncapacityPeriod", P, "?"), F("EndDate", D),
                                      F("EndReason", E(["recovery", "consolidation", "resumed_work", "death", "other"]), ex="recovery"),
                                      F("ResumedWork", B), F("PermanentIncapacityExpected", B, "?"),
                                      F("Remarks", T2, "?")])),
    "DA042": S(F("MedicalReport", [F("ExaminationDate", D), F("Findings", T2, ex="Fracture of the left wrist, healing normally."),
                                    F("IncapacityPeriod", P, "?")])),
    "DA043": S(F("Appointment", [F("AppointedPerson", NES, ex="A. Example, inspector"), F("Function", NES, ex="Accident inspector"),
                                  F("Contact", NES, ex="inspection@example.invalid"), F("AccidentDate", D)])),
    "DA044": S(F("DetailedReportRequest", [F("Event", EVENT), F("EventDate", D),
                                            F("RequestedReport", T2, ex="A detailed report with the medical certificates of the treatment."),
                                            F("ReplyBefore", D, "?")])),
    "DA046": S(F("DecisionRequest", [F("Event", EVENT), F("EventDate", D),
                                      F("Subject", E(["date_of_recovery_or_consolidation", "award_of_pension"])),
                                      F("Question", T2, "?")])),
    "DA047": S(F("DecisionReply", [F("Outcome", DEC), F("DateOfRecoveryOrConsolidation", D, "?"), F("Reason", T2, "?")])),
    "DA048": S(F("Contest", [F("Event", EVENT), F("EventDate", D), F("Reason", T2, ex="The accident happened outside working hours.")])),
    # DA049 (AW_BUC_08, contestation of the application of legislation): the case owner's follow-up of its
    # contestation DA048 [CAT]: the contestation it follows, the event, what changed (further evidence, the
    # contestation maintained or withdrawn) and the documents. UNCERTAIN: no public source describes DA049;
    # the body follows AW_BUC_08's flow (DA048 -> DA049, both from the case owner).
    "DA049": S(F("ContestationFollowUp", [F("Contestation", REF, "?"), F("Event", EVENT), F("EventDate", D),
                                          F("Kind", E(["further_evidence", "contestation_maintained", "contestation_withdrawn"]),
                                            ex="further_evidence"),
                                          F("Text", T4, ex="Further evidence on the circumstances of the accident is attached."),
                                          F("Documents", DOCS, "?")])),
    "DA050": S(F("Forwarding", [F("DiseaseDescription", T2, ex="Occupational asthma"), F("DeclarationDate", D),
                                 F("ExposureCountry", C, "+", ex="NL")])),
    # DA051: an institution finds the conditions for an occupational disease not met under its legislation and
    # forwards the declaration to the institution of the State where the person earlier pursued an activity
    # likely to cause it (Article 36(2) of Regulation 987/2009 [REG987]): the disease, the declaration's date,
    # the conditions not met, the decision, the institution the declaration is forwarded to, the exposure
    # periods, the documents. UNCERTAIN: the form's own field names are not public.
    "DA051": S(F("Forwarding", [F("DiseaseDescription", T2, "?", ex="Occupational asthma"),
                                F("ConditionsNotMet", T2, ex="The exposure period required by our legislation was not completed."),
                                F("DeclarationDate", D), F("DecisionDate", D, "?"), F("ForwardedTo", I, "?"),
                                F("ExposurePeriod", [F("Period", P), F("Country", C, ex="NL"),
                                                     F("Activity", NES, "?", ex="Baker")], "*"),
                                F("Documents", DOCS, "?")])),
    "DA052": S(F("Appeal", [F("AppealDate", D), F("RejectionDate", D), F("Text", T2, "?")])),
    "DA053": S(F("AdvancePayment", [F("Amount", M), F("PaymentDate", D), F("Period", P)])),
    "DA054": S(F("AdvancePaymentReply", [F("Outcome", DEC), F("Amount", M, "?"), F("Reason", T2, "?")])),
    # DA055 (AW_BUC_10a, appeal against a rejection, Article 37 of Regulation 987/2009 [REG987]): the case
    # owner tells the outcome of the appeal against the rejection (DA052): the appeal, its outcome, the
    # decision date, the advance payments to be settled. UNCERTAIN: the form's fields are not public.
    "DA055": S(F("AppealOutcome", [F("AppealDate", D, "?"), F("Outcome", E(["upheld", "rejected", "pending"])),
                                   F("DecisionDate", D, "?"), F("AdvancePaymentsToBeReimbursed", M, "?"),
                                   F("Text", T2, "?")])),
    # DA057: request for information on the aggravation of an occupational disease (Article 38 of Regulation
    # 987/2009 [REG987]: the institution may ask a previously competent institution for the benefits it
    # granted for the disease): the disease, its recognition, the aggravation, the information asked for.
    # UNCERTAIN: the form's own fields are not public; the items follow the regulation's wording.
    "DA057": S(F("AggravationRequest", [F("DiseaseDescription", T2, ex="Noise-induced hearing loss"),
                                        F("RecognitionDate", D, "?"), F("AggravationDate", D),
                                        F("RequestedInformation", E(["benefits_granted", "degree_of_incapacity",
                                                                     "exposure_periods", "medical_reports"]), "+",
                                          ex="benefits_granted"),
                                        F("Question", T2, "?"), F("ReplyBefore", D, "?")])),
    # DA058: the reply to DA057 (Article 38 of Regulation 987/2009 [REG987]): the benefits granted for the
    # disease (kind, period, amount), the degree of incapacity recognised, the exposure periods, the
    # documents. UNCERTAIN: the form's own fields are not public.
    "DA058": S(F("AggravationReply", [F("Outcome", OUT),
                                      F("BenefitGranted", [F("Kind", E(["benefits_in_kind", "cash_benefit", "pension"])),
                                                           F("Period", P), F("Amount", M, "?")], "*"),
                                      F("DegreeOfIncapacity", PCT, "?"), F("ExposurePeriod", P, "*"),
                                      F("Text", T2, "?"), F("ProvidedDocuments", DOCS, "?")])),
    # DA059: request for the degree of a previous or subsequent incapacity for work (Article 39 of Regulation
    # 987/2009 [REG987]: an institution gives, on request, the degree of a previous or subsequent incapacity):
    # the accident or disease now assessed, whether the other one came before or after, its date, the
    # reference date of the degree. UNCERTAIN: the form's own fields are not public.
    "DA059": S(F("IncapacityRequest", [F("Event", EVENT), F("EventDate", D),
                                       F("OtherIncapacity", E(["previous", "subsequent"])), F("OtherEventDate", D, "?"),
                                       F("ReferenceDate", D),
                                       F("Question", T2, ex="What was the degree of incapacity on this date?")])),
    "DA060": S(F("IncapacityDegree", [F("DegreePercentage", PCT), F("ValidFrom", D), F("Text", T2, "?")])),
    "DA061": S(F("ForwardedClaim", [F("ClaimDate", D), F("Benefit", E(["pension", "supplementary_benefit"])),
                                     F("CompetentInstitution", I)])),
    "DA062": S(F("TransportCost", [F("TransportDate", D), F("Means", NES, ex="Ambulance"), F("Amount", M)])),
    "DA063": S(F("TransportCostReply", [F("Outcome", DEC), F("ReimbursedAmount", M, "?"), F("Reason", T2, "?")])),
    # DA071: identification of overpayments (IO) [CH-SED] DA071_en.htm (CDM 4.2), DA071-4-1-en.htm: the
    # global IO reference, the identification of the sender (a code list), the total number and amount of
    # the individual overpayments, the date of submission. UNCERTAIN: the sender's code values are not in
    # the excerpt: creditor or debtor liaison body here.
    "DA071": NOTE("IdentificationOfOverpayments", "IO-2026-0001",
                  F("IdentificationOfSender", E(["creditor_liaison_body", "debtor_liaison_body"])),
                  F("TotalNumberOfIndividualOverpayments", N), F("TotalAmountOfOverpayments", M)),
    # DA073A: acceptance of the identification of overpayments (ACP_IO) [CH-SED] DA073A_en.htm (CDM 4.2):
    # the global IO and ACP_IO references, the total number and amount of accepted overpayments, the date
    # of submission.
    "DA073A": NOTE("AcceptanceOfOverpayments", "ACP-IO-2026-0001", F("OverpaymentReference", NES, ex="IO-2026-0001"),
                   F("TotalNumberOfAcceptances", N), F("TotalAcceptedAmount", M)),
    # DA073C: contestation of the identification of overpayments (COC_IO): its reply DA073R [CH-SED] names
    # the global COC_IO reference; the fields follow the other contestations of the AW_BUC_15/23 flows
    # (DA016, DA022C). UNCERTAIN: no excerpt of DA073C's own form was found.
    "DA073C": NOTE("OverpaymentContestation", "COC-IO-2026-0001", F("OverpaymentReference", NES, ex="IO-2026-0001"),
                   F("TotalNumberOfContestations", N), F("ContestedAmount", M),
                   F("Reason", T2, ex="The benefit was due for the whole period.")),
    # DA073R: reply to the contestation of the identification of overpayments (RPY_COC_IO) [CH-SED]
    # DA073R-4-1-en.htm (CDM 4.1): the global IO, COC_IO and RPY_COC_IO references, the total number of
    # individual replies, the total amount of accepted contestations, the date of submission.
    "DA073R": NOTE("OverpaymentContestationReply", "RPY-COC-IO-2026-0001",
                   F("OverpaymentReference", NES, ex="IO-2026-0001"), F("ContestationReference", NES, ex="COC-IO-2026-0001"),
                   F("TotalNumberOfReplies", N), F("TotalAcceptedAmount", M)),
    "DA074": NOTE("RefundDecision", "IRO-IO-2026-0001", F("OverpaymentReference", NES, ex="IO-2026-0001"),
                  F("TotalAmountOfOverpayments", M),
                  F("MethodOfRefund", E(["bank_transfer", "offset_against_claim"])), F("BankAccount", BANK, "?")),
    # ---- FB ----
    "F001": S(F("Employer", "EmployerType", "*"), F("Claim", [F("ReceivedDate", D), F("BenefitType", E(["child_benefit", "childcare_allowance", "other"])),
                          F("ClaimPeriod", P)]),
              persons=INSURED + [F("Child", PER, "+")]),
    "F002": S(F("CompetenceDecision", [F("PrimaryCompetentMemberState", C, ex="NL"),
                                        F("SecondaryCompetentMemberState", C, "?", ex="BE"), F("Period", P),
                                        F("DifferentialSupplementDue", B), F("Reason", T2, "?")])),
    # F003: the claim (date received, type), the decision (its reasons, the periods, the children it covers,
    # whether it covers all children, the competence, further information), the family's benefits
    # (name, period, amount, frequency, recipient); persons: claimant, spouse, children [WSED F003Sed,
    # VedtakF003, PersonTypeBrukerF003, Ytelse, VedtakBarn]
    "F003": S(F("Claim", [F("ReceivedDate", D), F("BenefitType", E(["child_benefit", "childcare_allowance", "other"]))]),
              F("PaymentDecision", [F("Outcome", DEC), F("Competence", E(["primary", "secondary"]), ex="secondary"),
                                    F("AppliesToAllChildren", B, ex="true"), F("DecisionPeriod", P, "+"),
                                    F("ChildCovered", [F("FamilyName", NES, ex="Verhoeven"), F("Forename", NES, ex="Noor"),
                                                       F("DateBirth", D, ex="2016-04-12")], "*"),
                                    F("Reason", T2, ex="A differential supplement is due for the period."),
                                    F("AdditionalInformation", T2, "?")]),
              F("FamilyBenefit", [F("BenefitName", NES, ex="Kinderbijslag"), F("Period", P), F("Amount", M),
                                  F("Frequency", E(["monthly", "yearly"])), F("RecipientName", NES, ex="Lotte Verhoeven"),
                                  F("NumberOfPersons", N, "?")], "*"),
              persons=INSURED + [F("Spouse", PER, "?"), F("Child", PER, "*")]),
    # F004: a request for further explanation of a document of the case (typically the decision F002 or
    # F003): the document, the items to explain, the question, a reply date. No child and no employer at the
    # SED's root: routing/belgium.toml places only a case's first family SED by them; a later one follows the
    # case. UNCERTAIN: no public source describes the form's fields; they follow the title and FB_BUC_01.
    "F004": S(F("RequestForExplanation", [F("Document", REF, "?"),
                                          F("Item", NES, "+", ex="Period of the differential supplement"),
                                          F("Question", T2, ex="Please explain how the period of the supplement was fixed."),
                                          F("ReplyBefore", D, "?")])),
    # F005: the reply to F004: the explanation per item, the documents. UNCERTAIN: as F004.
    "F005": S(F("Explanation", [F("Document", REF, "?"),
                                F("ExplainedItem", [F("Item", NES, ex="Period of the differential supplement"),
                                                    F("Answer", T2, ex="The supplement starts the month the claim was received.")], "+"),
                                F("Text", T4, "?"), F("ProvidedDocuments", DOCS, "?")])),
    "F016": S(F("TransferRequest", [F("Period", P), F("PayeeName", NES, ex="Lotte Verhoeven"), F("BankAccount", BANK)])),
    "F017": S(F("TransferReply", [F("Outcome", DEC), F("TransferFrom", D, "?"), F("Reason", T2, "?")])),
    # F018-F021: the supplements of family benefits under the priority rules (Article 68(1)-(2) of Regulation
    # 883/2004 [REG883]: the priority by activity, pension or residence; the State second in line pays a
    # differential supplement). F018 asks for the insurance periods the supplement depends on; F019 gives
    # them; F020 says which State has priority and on which ground; F021 is the claim for the supplement.
    # UNCERTAIN: no public source shows the forms' fields; they follow the titles and the regulation.
    "F018": S(F("PeriodsRequest", [F("Benefit", E(["child_benefit", "childcare_allowance", "orphan_benefit", "differential_supplement", "other"]), ex="differential_supplement"), F("ReferencePeriod", P, "?"),
                                   F("DateDeath", D, "?"),
                                   F("Question", T2, ex="Please send the insurance periods of the deceased parent.")])),
    "F019": S(F("InsurancePeriods", IPS), F("NoPeriodsReason", T2, "?"), F("Remarks", T2, "?")),
    "F020": S(F("Priority", [F("PriorityMemberState", C, ex="BE"), F("Period", P),
                             F("PriorityGround", E(["employment_or_self_employment", "pension", "residence"])),
                             F("Benefit", E(["child_benefit", "childcare_allowance", "orphan_benefit", "differential_supplement", "other"]), "?"), F("AmountPaidByPriorityState", M, "?"),
                             F("Remarks", T2, "?")])),
    "F021": S(F("Claim", [F("ClaimDate", D), F("Period", P), F("ReceivedDate", D, "?"),
                          F("Benefit", E(["child_benefit", "childcare_allowance", "orphan_benefit", "differential_supplement", "other"]), "?", ex="differential_supplement"),
                          F("AmountPaidByPriorityState", M, "?"), F("BankAccount", BANK, "?"),
                          F("Remarks", T2, "?")])),
    # F022/F023: a request for the periods (of employment, self-employment, insurance or residence) a family
    # benefit depends on, and the reply with them. UNCERTAIN: fields follow the titles.
    "F022": S(F("PeriodsRequest", [F("RequestedPeriod", P),
                                   F("PeriodKind", E(["employment", "self_employment", "insurance", "residence"]), "*"),
                                   F("Question", T2, ex="Please confirm the periods of employment.")])),
    "F023": S(F("InsurancePeriods", IPS), F("NoPeriodsReason", T2, "?"), F("Remarks", T2, "?")),
    # F026: request for more information on adoption, income, an orphan's benefits, other information on
    # the child, education and the educational institution, each with the items asked for and free text
    # [WSED F026Sed, AnmodningOmMerInformasjon, EtterspurtInformasjon, the *EtterspurtInformasjonType
    # lists, Utdanning, UtdanningInstitusjon]; title [JOARK]
    "F026": S(F("RequestForMoreInformation", [
        F("Adoption", [F("RequestedItem", E(["date_adoptive_parents_took_care", "date_adoption_registered",
                                             "document_adoption_lawful"]), "+"),
                       F("AdditionalInformation", T2, "?")], "?"),
        F("Income", [F("RequestedItem", E(["source_of_income", "annual_income", "period"]), "+"),
                     F("AdditionalInformation", T2, "?")], "?"),
        F("OrphanBenefit", [F("RequestedItem", E(["identification_of_deceased", "identification_of_children",
                                                  "identification_of_other_person", "residence_of_orphan",
                                                  "relationship_orphan_deceased", "relationship_other_person_deceased",
                                                  "activity_of_orphan", "school", "training", "invalidity",
                                                  "unemployment", "income_of_orphan"]), "+"),
                            F("AdditionalInformation", T2, "?")], "?"),
        F("OtherInformationOnChild", [F("RequestedItem", E(["daily_care", "parental_responsibility", "adopted",
                                                            "maintained_by_public_authority", "childcare",
                                                            "marital_status", "date_of_changed_circumstances"]), "+"),
                                      F("AdditionalInformation", T2, "?")], "?"),
        F("Education", [F("Type", E(["school", "college", "university", "vocational_training", "childcare"])),
                        F("Participation", E(["full_time", "part_time"]), "?"), F("Hours", N, "?", ex="20"),
                        F("HoursPer", E(["day", "week", "month"]), "?", ex="week"),
                        F("AdditionalInformation", T2, "?")], "?"),
        F("EducationalInstitution", [F("Name", NES, ex="Fictitious Secondary School"),
                                     F("AdditionalInformation", T2, "?")], "?"),
        F("AdditionalInformation", T2, "?")])),
    # F027: the claim's date of receipt, whether it answers a claim, and the answers on adoption, income,
    # education, the educational institution and periods of education [WSED F027Sed, SvarAdopsjon,
    # SvarInntekt, Utdanning, UtdanningInstitusjon]
    "F027": S(F("Claim", [F("ReceivedDate", D)]),
              F("ReplyToRequestForMoreInformation", [
                  F("IsClaimOrReplyToClaim", E(["claim", "reply_to_claim"]), "?"),
                  F("Adoption", [F("AdoptionLawfulDocument", NES, "?", ex="Adoption order of the district court"),
                                 F("AdoptiveParentsCareSince", D, "?"), F("AdoptionRegisteredOn", D, "?"),
                                 F("AdditionalInformation", T2, "?")], "?"),
                  F("Income", [F("Period", P, "?"), F("AnnualAmount", M, "?"), F("SourceOfIncome", NES, "?", ex="Employment"),
                               F("AdditionalInformation", T2, "?")], "?"),
                  F("Education", [F("Type", E(["school", "college", "university", "vocational_training", "childcare"])),
                                  F("Participation", E(["full_time", "part_time"]), "?")], "?"),
                  F("EducationalInstitution", [F("Name", NES, ex="Fictitious Secondary School")], "?"),
                  F("EducationPeriod", P, "*"),
                  F("AdditionalInformation", T2, "?")])),
    # ---- H ----
    "H003": S(F("Residence", [F("ProposedMemberState", C, ex="BE"), F("Since", D),
                              F("Criteria", T2, ex="Family, home and main activity are in Belgium."), F("IsFinal", B)])),
    "H004": S(F("ResidenceReply", [F("Answer", E(["agree", "disagree"]), ex="disagree"), F("Reason", T2, "?"),
                                   F("ProposedMemberState", C, "?", ex="NL")])),
    # H005: request for information on residence, Article 76 of Regulation 883/2004 and Article 11 of
    # Regulation 987/2009 (title and legal basis: [CH-SED] /de/d/17926/download:H005-4-2-sv.htm, CDM 4.2): the
    # elements Article 11(1) names for the centre of interests [REG987] (duration and continuity of presence,
    # the nature of the activity, family status and ties, non-remunerated activity, a student's source of
    # income, housing, tax residence), the period concerned, the question. UNCERTAIN: the form's copies stop
    # after the person block; the items follow Article 11.
    "H005": S(F("ResidenceRequest", [F("ConcernedPeriod", P, "?"), F("RequestedElement", E(["duration_and_continuity_of_presence", "nature_of_activity", "family_status_and_ties", "non_remunerated_activity", "source_of_income_of_student", "housing_situation", "tax_residence"]), "+"),
                                     F("Question", T2, ex="In which State does the person have the centre of interests?"),
                                     F("ReplyBefore", D, "?")])),
    # H006: the reply to H005 [CH-SED] (as H005), element by element of Article 11(1) of Regulation
    # 987/2009 [REG987], with the State of residence the replying institution concludes on. UNCERTAIN: as H005.
    "H006": S(F("ResidenceInformation", [F("DurationAndContinuityOfPresence", T2, "?", ex="Lives in Gent since 2019, all year."),
                                         F("Activity", T2, "?", ex="Employed full time in Gent."),
                                         F("FamilyStatusAndTies", T2, "?"), F("NonRemuneratedActivity", T2, "?"),
                                         F("SourceOfIncomeOfStudent", T2, "?"), F("HousingSituation", T2, "?"),
                                         F("TaxResidence", C, "?", ex="BE"), F("ConcludedMemberStateOfResidence", C, "?", ex="BE"),
                                         F("Remarks", T2, "?"), F("ProvidedDocuments", DOCS, "?")])),
    "H010": S(F("Change", [F("PreviousMemberState", C, ex="NL"), F("NewMemberState", C, ex="BE"), F("ChangeDate", D)])),
    # H011: request for the date from which the applicable legislation changes (H_BUC_05 with H012): the
    # legislation that applies now, the one presumed to apply, the reason, the period. UNCERTAIN: fields
    # follow the title and the reply H012.
    "H011": S(F("ChangeRequest", [F("CurrentMemberState", C, "?", ex="NL"), F("PresumedNewMemberState", C, "?", ex="BE"),
                                  F("Reason", E(["change_of_residence", "change_of_activity", "posting_ended", "other"]), "?"),
                                  F("Question", T2, ex="From which date does Belgian legislation apply?"),
                                  F("ConcernedPeriod", P, "?")])),
    "H012": S(F("ChangeReply", [F("ChangeDate", D), F("NewMemberState", C, ex="BE"), F("Remarks", T2, "?")])),
    "H020": S(F("ReimbursementClaim", [F("CreditorInstitution", I, ex="BE:INAMI"), F("DebtorInstitution", I, ex="NL:SVB"),
                                       F("Invoice", [F("InvoiceNumber", NES, ex="INV-2026-0007"), F("InvoiceDate", D),
                                                     F("Amount", M)], "+"),
                                       F("TotalNumberOfInvoices", N, ex="1"), F("BankAccount", BANK)])),
    "H021": S(F("ReimbursementReply", [F("Outcome", DEC), F("AcceptedAmount", M), F("PaymentDate", D, "?"), F("Reason", T2, "?")])),
    "H061": S(F("PINExchange", [F("Kind", E(["notification", "request"])), F("PersonalIdentificationNumber", PIN, "?"),
                                F("Remarks", T2, "?")])),
    # H062: the reply to H061: the PINs found (country, number, sector, institution: the PIN type of the
    # person block) or why none is given. UNCERTAIN: fields follow the title.
    "H062": S(F("PINReply", [F("Outcome", E(["found", "not_found"])), F("PersonalIdentificationNumber", PIN, "+"),
                             F("Remarks", T2, "?")])),
    "H065": S(F("Transfer", [F("Kind", E(["claim", "document", "information"])), F("ReceivedDate", D),
                             F("Description", T2, ex="A claim for an old-age pension lodged with us by mistake."),
                             F("Documents", DOCS, "?")])),
    # H066: the reply to H065 (transfer of a claim, a document or information [WAPP h065.d.ts]): what was
    # transferred and when it arrived, accepted, forwarded (to which institution) or returned, and why.
    # UNCERTAIN: H066's fields follow the title and H065.
    "H066": S(F("TransferReply", [F("Kind", E(["claim", "document", "information"])), F("ReceivedDate", D, "?"),
                                  F("Outcome", E(["accepted", "forwarded", "returned"])), F("ForwardedTo", I, "?"),
                                  F("Text", T2, "?")])),
    # H070: the date of death, the documents attached (kinds and others), further information
    # (NAV test data: navikt/eessi-pensjon-journalforing src/test/resources/sed/H070-NAV.json @2513b30f); title [RDN]
    # UNCERTAIN: the test data does not show the document kinds' code values: death certificate or other here.
    "H070": S(F("Death", [F("DateDeath", D), F("CountryDeath", C, "?", ex="BE"), F("SourceOfInformation", NES, "?", ex="Civil register"),
                          F("AttachedDocuments", [F("Kind", E(["death_certificate", "other"]), "*"),
                                                  F("Other", NES, "*", ex="Extract of the civil register")], "?"),
                          F("AdditionalInformation", T2, "?")])),
    # H120: request for medical information: the benefit concerned; the nature of the request (the
    # actions and documentation asked for, other documentation, special requirements); for an accident at
    # work or occupational disease its type, date, the person's status, the disease code and coding system,
    # the consequences and the employer; incapacity for work (period, whether the costs are covered) or
    # capacity for work; for family benefits the documentation asked for; further information
    # [WSED h120.d.ts H120Sed, KravetsArt, Yrkesskade, Arbeidsufoer, Arbeidsdyktig, FamilieYtelse]
    "H120": S(F("MedicalRequest", [
        F("BenefitConcerned", E(["sickness_cash_benefit_incapacity_for_work", "maternity_or_paternity_benefit",
                                 "long_term_care_cash_benefit", "invalidity_pension", "old_age_pension", "survivor_pension",
                                 "awod_cash_benefit_article_33_1", "other_awod_cash_benefit", "unemployment_benefit",
                                 "pre_retirement_benefit", "family_benefit", "special_non_contributory_cash_benefit",
                                 "sickness_cash_benefit"]), ex="invalidity_pension"),
        F("NatureOfRequest", [F("RequestedAction", E(["estimate_cost_of_medical_examination", "carry_out_medical_examination",
                                                      "send_medical_information"]), "+", ex="carry_out_medical_examination"),
                              F("RequestedDocumentation", E(["standard_medical_report", "detailed_medical_report",
                                                             "medical_report_family_benefits", "bilaterally_agreed_medical_report",
                                                             "other_medical_documentation"]), "*"),
                              F("OtherDocumentation", T2, "?"),
                              F("SpecialRequirements", T2, "?", ex="Please report on the capacity for work.")]),
        F("AccidentAtWorkOrOccupationalDisease", [F("Type", EVENT), F("Date", D),
                                                  F("PersonStatus", E(["employed", "self_employed", "civil_servant",
                                                                       "frontier_worker", "other"])),
                                                  F("PersonStatusOther", NES, "?", ex="Trainee"),
                                                  F("DiseaseCode", NES, "?", ex="J45.0"), F("CodingSystem", NES, "?", ex="ICD-10"),
                                                  F("ConsequenceOrDescription", T2, "?"),
                                                  F("Employer", "EmployerType", "?")], "?"),
        F("IncapacityForWork", [F("Period", P, "?"), F("CostsCovered", E(["yes", "no", "not_applicable"]))], "?"),
        F("CapacityForWork", [F("CostsCovered", E(["yes", "no", "not_applicable"]))], "?"),
        F("FamilyBenefit", [F("RequestedDocumentation", E(["degree_of_autonomy", "degree_of_need_for_help",
                                                           "cause_of_invalidity", "date_of_invalidity_or_change",
                                                           "physical_and_mental_abilities", "degree_of_mental_and_physical_abilities",
                                                           "date_degree_reached", "degree_permanent", "new_examination_needed",
                                                           "prognosis", "degree_of_earning_capacity"]), "*"),
                            F("OtherDocumentation", T2, "?")], "?"),
        F("AdditionalInformation", T2, "?"), F("ReplyBefore", D, "?")])),
    "H121": S(F("MedicalInformation", [F("ExaminationDate", D), F("Findings", T2, ex="Able to work part-time (50%)."),
                                       F("EstimatedCost", M, "?")])),
    "H130": S(F("AdministrativeCheck", [F("Kind", E(["cost_estimate", "administrative_check"])),
                                        F("Subject", NES, ex="Check of residence"),
                                        F("Question", T2, ex="Please check that the person lives at the given address.")])),
    "H131": S(F("AdministrativeCheckReply", [F("Outcome", OUT), F("Findings", T2, ex="The person lives at the address."),
                                             F("EstimatedCost", M, "?")])),
    # ---- M ----
    "M030": S(F("Claim", [F("DateDeath", D), F("ClaimDate", D),
                          F("ClaimantRelationship", E(["spouse", "child", "parent", "other"]))])),
    # M040: claim for an early retirement (pre-retirement) benefit, Article 66 of Regulation 883/2004
    # [REG883]: the claim's date, the start asked for, the last activity, the other benefits, the account.
    # UNCERTAIN: fields follow the title and the pension claims (P2000, P2200).
    "M040": S(F("Claim", [F("ClaimDate", D), F("RequestedStartDate", D),
                          F("LastActivity", [F("Kind", E(["employed", "self_employed"])), F("Occupation", NES, ex="Machine operator"),
                                             F("Period", P), F("Employer", "EmployerType", "?")], "?"),
                          F("OtherBenefit", [F("Kind", NES, ex="Unemployment benefit"), F("Amount", M, "?"), F("Since", D, "?")], "*"),
                          F("BankAccount", BANK, "?")])),
    # M050/M052: requests for the amount of income, or for the periods, that a special non-contributory cash
    # benefit depends on (Article 70 of Regulation 883/2004 [REG883]); M053 answers M052. UNCERTAIN: fields
    # follow the titles and M051 (the income reply, [RDN] test data).
    "M050": S(F("IncomeRequest", [F("ReferencePeriod", FP),
                                  F("RequestedIncomeKind", E(["employment", "self_employment", "pension", "other"]), "*"),
                                  F("PersonConcerned", E(["insured_person", "family_member"]), "?"),
                                  F("Question", T2, "?")])),
    # M051: the income items: kind, start date, amount and currency, social security benefits
    # (NAV test data: navikt/eessi-pensjon-journalforing src/test/resources/sed/M051.json @2513b30f); title [RDN]
    "M051": S(F("Income", [F("Kind", E(["employment", "self_employment", "pension", "other"])), F("StartDate", D),
                           F("Amount", M), F("SocialSecurityBenefits", NES, "?", ex="Housing benefit")], "+")),
    "M052": S(F("PeriodsRequest", [F("ReferencePeriod", FP),
                                   F("PeriodKind", E(["employment", "self_employment", "residence"]), "*"),
                                   F("Question", T2, "?")])),
    "M053": S(F("InsurancePeriods", IPS), F("NoPeriodsReason", T2, "?"), F("Remarks", T2, "?")),
    # ---- P ----
    # P1000: the child-raising periods asked for (period and country), the Article 44(2) of Regulation
    # 987/2009 indication, the date of death, the relationship of the person to the child, remarks; persons:
    # the insured person (or survivor) and the children [PRE P1000-NAV.json]
    "P1000": S(F("ChildRaisingRequest", [F("ChildRaisingPeriod", [F("Period", P), F("Country", C, ex="BE")], "+"),
                                         F("Article44Paragraph2Applies", B, "?"), F("DateDeath", D, "?"),
                                         F("RelationshipToChild", [F("Kind", E(["parent", "adoptive_parent", "foster_parent", "other"])),
                                                                   F("Remarks", T2, "?")], "?"),
                                         F("Remarks", T2, "?")]),
               persons=INSURED + [F("Child", PER, "+")]),
    # P1100: the reply on child-raising periods: the activity, from which date, the national credits, remarks,
    # the relationship to the child, the date of death; persons: the insured person and the children
    # [PRE P1100-NAV.json]
    "P1100": S(F("ChildRaisingPeriods", [F("Period", P, "+"), F("Activity", NES, "?", ex="Raising a child under 3"),
                                         F("FromDate", D, "?"), F("NationalCredit", NES, "?", ex="Credited as insurance periods"),
                                         F("RelationshipToChild", E(["parent", "adoptive_parent", "foster_parent", "other"]), "?"),
                                         F("DateDeath", D, "?"), F("Remarks", T2, "?")]),
               persons=INSURED + [F("Child", PER, "*")]),
    "P2000": S(F("Claim", [F("ClaimDate", D), F("RequestedStartDate", D),
                           F("MaritalStatus", E(["single", "married", "registered_partnership", "divorced", "widowed"]), ex="married"),
                           F("BankAccount", BANK, "?")]),
               persons=INSURED + [F("Spouse", PER, "?")]),
    "P2100": S(F("Claim", [F("DateDeath", D), F("ClaimDate", D),
                           F("Relationship", E(["spouse", "registered_partner", "child", "other"])),
                           F("BankAccount", BANK, "?")]),
               persons=INSURED + [F("Claimant", PER)]),
    # P2200: the claim's date, the incapacity, the bank account; the person's employment (kind,
    # occupation, hours, dates, planned retirement, income); other benefits claimed or received (kind, status,
    # institution, dates, amount); the relationship to the spouse, the guardian, documents asked for; persons:
    # the insured person, the spouse, the children [PRE P2200-NAV.json]
    "P2200": S(F("Claim", [F("ClaimDate", D), F("IncapacitySince", D), F("BankAccount", BANK, "?"),
                           F("Employment", [F("Kind", E(["employed", "self_employed", "other"])), F("Occupation", NES, ex="Nurse"),
                                            F("HoursPerWeek", N, "?", ex="38"), F("StartDate", D, "?"), F("EndDate", D, "?"),
                                            F("PlannedRetirementDate", D, "?"),
                                            F("Income", [F("Amount", M), F("Frequency", E(["monthly", "quarterly", "yearly", "other"])),
                                                         F("Since", D)], "*")], "*"),
                           F("OtherBenefit", [F("Kind", NES, ex="Sickness benefit"),
                                              F("Status", E(["claimed", "granted", "paid", "rejected"]), ex="paid"),
                                              F("Institution", I), F("EntitlementFrom", D, "?"), F("PaymentFrom", D, "?"),
                                              F("PaymentUntil", D, "?"), F("Amount", M, "?")], "*"),
                           F("SpouseRelationship", E(["spouse", "registered_partner", "cohabitant"]), "?"),
                           F("Guardian", [F("Name", NES, ex="A. Example"), F("Mandate", T2, ex="Guardian for all financial matters.")], "?"),
                           F("RequestedDocuments", DOCS, "?"), F("AdditionalInformation", T2, "?")]),
               persons=INSURED + [F("Spouse", PER, "?"), F("Child", PER, "*")]),
    "P3000_BE": P3000("BE", [F("CareerStatementRequested", B)]),
    "P3000_DE": P3000("DE", [F("PensionInsuranceNumber", NES, "?", ex="12 140556 W 012")]),
    "P3000_FR": P3000("FR", [F("SupplementaryPensionScheme", NES, "?", ex="Fictitious supplementary scheme")]),
    "P3000_LU": P3000("LU", [F("ChildRaisingBabyYearsClaimed", B)]),
    "P3000_NL": P3000("NL", [F("PartnerAllowanceClaimed", B)]),
    # P4000: the insured person's own account of the insurance history, by kind of period: employment or
    # self-employment (employer's name and address, activity, insurance or registration number), residence,
    # unemployment, sickness, training (with the institution), military service, voluntary insurance,
    # birth leave (open period), child care (the child), other periods; each with the country, whether the
    # dates are uncertain and further information; the bank account [PRE other/P4000-from-frontend.json]
    "P4000": S(F("InsuranceHistory", [
        F("EmploymentOrSelfEmployment", [F("Period", P), F("Kind", E(["employed", "self_employed"])),
                                         F("Activity", NES, ex="Warehouse clerk"),
                                         F("EmployerName", NES, ex="Exemple Logistique SA"),
                                         F("EmployerAddress", ADDRESS_FIELDS, "?"),
                                         F("InsuranceOrRegistrationNumber", NES, "?", ex="0999888767"),
                                         F("UncertainDates", B, "?"), F("AdditionalInformation", T2, "?")], "*"),
        F("Residence", P4000_PERIOD(), "*"),
        F("Unemployment", P4000_PERIOD(F("InstitutionName", NES, ex="Office national de l'emploi")), "*"),
        F("Sickness", P4000_PERIOD(F("InstitutionName", NES, ex="Fictitious mutual insurance fund")), "*"),
        F("Training", P4000_PERIOD(F("InstitutionName", NES, ex="Fictitious Vocational School")), "*"),
        F("MilitaryService", P4000_PERIOD(), "*"),
        F("VoluntaryInsurance", P4000_PERIOD(), "*"),
        F("BirthLeave", P4000_PERIOD(), "*"),
        F("ChildCare", P4000_PERIOD(F("Child", [F("FamilyName", NES, ex="Verhoeven"), F("Forename", NES, ex="Noor"),
                                                F("DateBirth", D, ex="2016-04-12")])), "*"),
        F("Other", P4000_PERIOD(F("Kind", NES, ex="Care of a relative")), "*"),
        F("BankAccount", BANK, "?")])),
    # P5000: the insurance and residence periods (the adapter sfp-periods maps InsurancePeriods: kept as it
    # is), then, as NAV's P5000 test data has them [PRE p5000/P5000a_898403-nav.json, P5000-NAV.json]: each
    # period as counted for the pension (type, relevance, scheme, calculation, the years, months and days it
    # counts with the days' unit), the totals per type, the benefit claimed. The code values of type,
    # relevance, scheme and calculation are the EC's code lists, kept as codes. UNCERTAIN: the days' unit
    # codes (5, 7...) read as days per week.
    "P5000": S(F("InsurancePeriods", IPS),
               F("PeriodForPension", [F("Period", P), F("PeriodType", NES, ex="30"), F("Relevance", NES, "?", ex="111"),
                                      F("Scheme", NES, "?", ex="00"), F("Calculation", NES, "?", ex="111"),
                                      F("Duration", [F("Years", N, ex="0"), F("Months", N, ex="0"), F("Days", N, ex="12"),
                                                     F("DaysUnit", E(["5", "6", "7"]), ex="7")], "?")], "*"),
               F("TotalForPension", [F("PeriodType", NES, ex="10"), F("Relevance", NES, "?", ex="111"),
                                     F("Duration", [F("Years", N, ex="0"), F("Months", N, ex="0"), F("Days", N, ex="12"),
                                                    F("DaysUnit", E(["5", "6", "7"]), ex="5")])], "*"),
               F("BenefitClaimed", BENEFIT, "?")),
    "P6000": S(F("Decision", [F("Benefit", BENEFIT), F("Outcome", DEC), F("StartDate", D), F("MonthlyGrossAmount", M, "?"),
                              F("Reason", T2, "?"), F("AppealInformation", T2, "?", ex="An appeal may be lodged with the labour court within 3 months.")])),
    "P7000": S(F("Summary", [F("Decision", [F("MemberState", C, ex="NL"), F("Benefit", BENEFIT), F("Outcome", DEC),
                                            F("MonthlyGrossAmount", M, "?")], "+")])),
    # P8000: the person the request is about and his relationship to the insured person; the SEDs asked for
    # (with the reason); the information asked for (general, on claims and benefits, on the person's
    # activity); a confirmation asked for; further information and attachments [PRE P8000-NAV.json]
    "P8000": S(F("Request", [F("PersonConcerned", E(["insured_person", "survivor", "other"]), ex="insured_person"),
                             F("RelationshipToInsuredPerson", NES, "?", ex="Spouse"),
                             F("RequestedSeds", [F("SedType", "SedTypeCodeType", "+", ex="P5000"), F("Reason", T2, "?")], "?"),
                             F("RequestedInformation", [F("GeneralInformation", T2, "*", ex="Insurance periods before 1990"),
                                                        F("ClaimOrBenefit", [F("Benefit", BENEFIT), F("Text", T2, "?")], "*"),
                                                        F("Activity", NES, "*", ex="Employment"),
                                                        F("OtherInformation", T2, "?")], "?"),
                             F("ConfirmationRequest", [F("Item", NES, ex="Date of the claim"), F("Reason", T2, "?")], "?"),
                             F("ReasonForRequest", T2, "?"), F("Attachments", DOCS, "?"),
                             F("AdditionalInformation", T2, "?")])),
    # P9000: the reply to a P8000 (its date and the person it is about): the outcome, or a negative reply
    # with its reason and the SEDs or documents that cannot be sent; income, schooling, activity,
    # benefits (kind, status, amount, frequency, since), whether the person is alive (place), a
    # declaration, the documents sent [PRE P9000-NAV.json]
    "P9000": S(F("Reply", [F("RequestDate", D, "?"), F("Outcome", OUT),
                           F("NegativeReply", [F("Reason", T2, ex="No insurance record exists for the person."),
                                               F("SedNotSent", "SedTypeCodeType", "*", ex="P5000"),
                                               F("DocumentNotSent", NES, "*", ex="Employment record")], "?"),
                           F("Text", T2, "?", ex="The requested information is given below."),
                           F("Income", [F("HasIncome", B), F("Source", NES, "?", ex="Employment"), F("Text", T2, "?")], "*"),
                           F("Schooling", [F("SchoolName", NES, ex="Fictitious Secondary School"), F("Period", P),
                                           F("Text", T2, "?")], "*"),
                           F("Activity", [F("Occupation", NES, ex="Nurse"), F("StartDate", D), F("HoursPerWeek", N, "?", ex="38")], "*"),
                           F("Benefit", [F("Kind", NES, ex="Old-age pension"), F("Status", E(["claimed", "granted", "paid", "rejected"])),
                                         F("Amount", M, "?"), F("Frequency", E(["monthly", "quarterly", "yearly", "other"]), "?"),
                                         F("Since", D, "?")], "*"),
                           F("LifeStatus", [F("Alive", B, ex="true"), F("Town", NES, "?", ex="Namur"), F("Country", C, "?", ex="BE")], "?"),
                           F("Declaration", [F("Date", D), F("Text", T2, ex="I declare that the information is correct.")], "?"),
                           F("ProvidedDocuments", DOCS, "?")])),
    # P10000: the person the information is about and his relationship; activity (kind, place, hours,
    # period), income (source, amount, frequency, since), schooling, unemployment periods, benefits,
    # whether the person is alive or the date of death, the withdrawal of a pension claim, a
    # declaration, the documents transferred [PRE P10000-03Barn-NAV.json, P10000-01Gjenlevende-NAV.json]
    "P10000": S(F("Information", [
        F("PersonConcerned", E(["insured_person", "survivor", "child", "other"]), ex="insured_person"),
        F("Text", T4, ex="Copy of the employment record for the years 1980 to 1985."),
        F("Activity", [F("Kind", E(["employed", "self_employed", "other"])), F("Place", NES, "?", ex="Namur"),
                       F("HoursPerWeek", N, "?", ex="38"), F("Period", P)], "*"),
        F("Income", [F("Source", NES, ex="Employment"), F("Amount", M), F("Frequency", E(["monthly", "quarterly", "yearly", "other"])),
                     F("Since", D)], "*"),
        F("Schooling", [F("SchoolName", NES, ex="Fictitious Secondary School"), F("Period", P)], "*"),
        F("UnemploymentPeriod", P, "*"),
        F("Benefit", [F("Kind", NES, ex="Survivor's pension"), F("Amount", M), F("Since", D)], "*"),
        F("LifeStatus", [F("Alive", B, ex="false"), F("DateDeath", D, "?"), F("Country", C, "?", ex="BE")], "?"),
        F("ClaimWithdrawal", [F("Country", C, ex="BE"), F("WithdrawalDate", D), F("Text", T2, "?")], "*"),
        F("Declaration", [F("Date", D), F("Text", T2, ex="I declare that the information is correct.")], "?"),
        F("Documents", DOCS, "?")])),
    # P11000: the kind of amount asked for, the fixed period, the person the request is about, the
    # attachments, further information [PRE P11000_Fixed-NAV.json]
    "P11000": S(F("AmountsRequest", [F("RequestedAmountKind", E(["gross", "net", "gross_and_net"]), "?", ex="gross"),
                                     F("ReferencePeriod", FP), F("ReferenceDate", D, "?"),
                                     F("PersonConcerned", E(["insured_person", "survivor"]), ex="insured_person"),
                                     F("Purpose", T2, ex="Needed to calculate a pension supplement."),
                                     F("Attachments", DOCS, "?"), F("AdditionalInformation", T2, "?")])),
    # P12000: for each pension, the payment details (type, amount, currency, frequency, basis: residence or
    # work, effective and start dates), or its rejection or termination with the reasons; supplements paid
    # with the pension; further information and attachments [PRE P12000-NAV.json]
    "P12000": S(F("PensionAmounts", [
        F("Pension", [F("Payment", [F("Benefit", BENEFIT), F("GrossAmount", M),
                                    F("Frequency", E(["monthly", "quarterly", "yearly", "other"])),
                                    F("OtherFrequency", NES, "?", ex="Every four weeks"),
                                    F("BasedOn", E(["residence", "work", "residence_and_work"]), "?"),
                                    F("EffectiveDate", D, "?"), F("From", D), F("PaymentDate", D, "?")], "?"),
                      F("Rejection", [F("Benefit", BENEFIT), F("Text", T2, ex="Insufficient insurance periods.")], "?"),
                      F("Termination", [F("Benefit", BENEFIT), F("Text", T2, ex="The pension ended on remarriage.")], "?")], "+"),
        F("SupplementsPaidWithPension", T2, "?"), F("PersonConcerned", E(["insured_person", "survivor"]), "?"),
        F("Attachments", DOCS, "?"), F("AdditionalInformation", T2, "?")])),
    # P13000: the supplement (amount, currency, frequency, paid from/to, effective from), its changes (date,
    # amount before and after), a rejection or a termination with its date and reason [PRE P13000-NAV.json]
    "P13000": S(F("Supplement", [F("Outcome", DEC), F("StartDate", D), F("MonthlyAmount", M, "?"),
                                 F("Payment", [F("Amount", M), F("Frequency", E(["monthly", "quarterly", "yearly", "other"])),
                                               F("PaidFrom", D), F("PaidUntil", D, "?"), F("EffectiveFrom", D, "?")], "*"),
                                 F("Change", [F("ChangeDate", D), F("AmountBefore", M), F("AmountAfter", M)], "*"),
                                 F("RejectionReason", T2, "?"), F("TerminationDate", D, "?"), F("TerminationReason", T2, "?"),
                                 F("EndDate", D, "?"), F("PersonConcerned", E(["insured_person", "survivor"]), "?"),
                                 F("AdditionalInformation", T2, "?")])),
    # P14000: the changes in personal circumstances: date of death, earlier names, sex, living conditions and
    # marital status (each with the date it changed), a changed PIN (old, new), emigration [PRE P14000-NAV.json]
    "P14000": S(F("Change", [F("Kind", E(["address", "marital_status", "death", "name", "sex", "pin", "living_conditions",
                                          "emigration", "other"])),
                             F("ChangeDate", D), F("DateDeath", D, "?"),
                             F("PreviousFamilyName", NES, "?", ex="Dubois-Martin"), F("PreviousForename", NES, "?", ex="Camille"),
                             F("MaritalStatus", [F("Value", E(["single", "married", "registered_partnership", "divorced", "widowed"]),
                                                   ex="widowed"), F("Since", D)], "?"),
                             F("LivingConditions", [F("Value", NES, ex="Lives in a care home"), F("Since", D)], "?"),
                             F("PINChange", [F("Old", PIN), F("New", PIN)], "?"),
                             F("Emigrated", B, "?"), F("Text", T2, "?")])),
    "P15000": S(F("TransitionalCase", [F("Benefit", BENEFIT), F("ClaimDate", D), F("PreviousReference", NES, ex="E202-2017-11834"),
                                       F("Remarks", T2, "?")])),
    # ---- R ----
    "R001": S(F("OffsettingRequest", [F("OverpaidPeriod", FP), F("OverpaidAmount", M),
                                      F("Reason", T2, ex="Benefit paid after the person moved abroad."), F("BankAccount", BANK, "?")])),
    "R002": S(F("OffsettingReply", [F("Outcome", DEC), F("OffsetAmount", M, "?"), F("Reason", T2, "?")])),
    "R003": S(F("OffsettingDecision", [F("Outcome", DEC), F("Amount", M), F("DecisionDate", D)])),
    "R004": S(F("PaymentNotice", [F("Amount", M), F("PaymentDate", D), F("PaymentReference", NES, ex="OFFSET-2026-0031")])),
    "R005": S(F("OffsettingRequest", [F("OverpaidPeriod", FP), F("OverpaidAmount", M),
                                      F("Reason", T2, ex="Arrears are due for the same period."), F("BankAccount", BANK, "?")])),
    "R006": S(F("OffsettingReply", [F("Outcome", DEC), F("OffsetAmount", M, "?"), F("Reason", T2, "?")])),
    "R008": S(F("RefundClaim", [F("ProvisionalPeriod", FP), F("Amount", M),
                                F("LegalBasis", NES, ex="Article 73(1) of Regulation (EC) No 987/2009")])),
    "R009": S(F("RefundReply", [F("Outcome", DEC), F("RefundedAmount", M, "?"), F("Reason", T2, "?")])),
    # R010 (R_BUC_04): offsetting of contributions paid provisionally to the institution of a State whose
    # legislation turned out not to apply (Article 73(2) of Regulation 987/2009 [REG987], the EC's business flow
    # RECOV 4 [REC-GUIDE]): whom it concerns
    # (a person or an employer, as the EC's recovery forms ask [CH-SED] R028_en.htm), the provisional period,
    # the State whose legislation applies, the contributions paid provisionally, the amount to be
    # reimbursed or offset, the account. UNCERTAIN: R010's own form was not found.
    "R010": S(F("ProvisionalContributions", [F("Concerns", E(["person", "employer"])), F("Employer", "EmployerType", "?"), F("ProvisionalPeriod", FP),
                                             F("MemberStateWhichLegislationApplies", C, ex="BE"),
                                             F("DecisionDate", D, "?"), F("ContributionsPaid", M),
                                             F("AmountToBeReimbursedOrOffset", M), F("BankAccount", BANK, "?"),
                                             F("Remarks", T2, "?")])),
    # R011: the reply to R010 (Article 73(2) of Regulation 987/2009 [REG987]): agreed or not, the amount
    # reimbursed or offset, the payment date, the reason. UNCERTAIN: as R010.
    "R011": S(F("ProvisionalContributionsReply", [F("Outcome", DEC), F("ReimbursedAmount", M, "?"), F("OffsetAmount", M, "?"),
                                                  F("PaymentDate", D, "?"), F("Reason", T2, "?")])),
    # R012 (R_BUC_05, business flow RECOV 5 [REC-GUIDE]): request for information useful for recovering a
    # claim (Article 76 of Regulation 987/2009 [REG987]: the request names the person, natural or legal, the last known address and other
    # identification, the nature and amount of the claim): whom it concerns (person or employer [CH-SED]
    # R028_en.htm), the last address, the claim, the information asked for. UNCERTAIN: R012's own form was
    # not found; the fields follow Article 76(2).
    "R012": S(F("InformationRequest", [F("Concerns", E(["person", "employer"])), F("Employer", "EmployerType", "?"), F("LastKnownAddress", ADDRESS_FIELDS, "?"),
                                       F("Claim", [F("Nature", E(["contributions", "benefits_provided_but_not_due",
                                                                  "provisional_payments", "interest_fines_and_costs"])),
                                                   F("Amount", M), F("Period", P, "?")]),
                                       F("RequestedItem", E(["address", "income", "assets", "employer", "bank_account",
                                                             "other"]), "+", ex="income"),
                                       F("Question", T2, "?")])),
    # R014: the reply to R012 (Article 76 of Regulation 987/2009 [REG987]; the requested party need not give
    # information it could not obtain for its own claims, Article 76(3)): the information given (address,
    # income, assets, employer, account) or why it is not given. UNCERTAIN: as R012.
    "R014": S(F("InformationReply", [F("Outcome", E(["provided", "partly_provided", "not_provided"])),
                                     F("Address", ADDRESS_FIELDS, "?"),
                                     F("Income", [F("Source", NES, ex="Employment"), F("Amount", M),
                                                  F("Frequency", E(["monthly", "quarterly", "yearly", "other"]))], "*"),
                                     F("Assets", T2, "?", ex="Owner of a flat in Gent."), F("Employer", "EmployerType", "?"),
                                     F("BankAccount", BANK, "?"), F("ReasonNotProvided", T2, "?")])),
    "R015": S(F("NotificationRequest", [F("DocumentToServe", NES, ex="Recovery decision of 2026-02-02"), F("Documents", DOCS),
                                        F("ServeBefore", D, "?")])),
    "R016": S(F("NotificationReply", [F("Outcome", E(["served", "not_served"])), F("ServedOn", D, "?"), F("Reason", T2, "?")])),
    "R017": S(F("RecoveryRequest", [F("Measure", E(["recovery", "precautionary_measures"])), F("Amount", M),
                                    F("EnforcementTitle", NES, ex="Recovery decision of 2026-02-02"), F("Reason", T2, "?")])),
    # R018: the reply to the request for recovery or precautionary measures (R017), Articles 78, 80, 81(2),
    # 82, 83 or 84 of Regulation 987/2009 [CH-SED] R018-4-1-en.htm (CDM 4.1): whom it concerns (a person or an
    # employer), then the reply; the measures and amounts follow Articles 80-84 [REG987]. UNCERTAIN: the copy
    # breaks off after the persons; Outcome and Text keep their names.
    "R018": S(F("RecoveryReply", [F("Concerns", E(["person", "employer"])), F("Employer", "EmployerType", "?"), F("Outcome", DEC),
                                  F("MeasureTaken", E(["recovery", "precautionary_measures", "payment_arrangement", "none"]), "?"),
                                  F("AmountRecovered", M, "?"), F("PaymentDeadline", D, "?"),
                                  F("Text", T2, ex="Recovery measures were started.")])),
    # R_BUC_07 (recovery, Articles 75-85 and 90 of Regulation 987/2009 [REG987]; the EC's recovery guidelines
    # [REC-GUIDE] list its flows: the request for recovery or precautionary measures with time to pay or
    # instalments (Article 80(2)), the contestation (Article 81), the final statement on the results of the
    # recovery and the reimbursement of costs (Article 85)): R019, sent by either side, asks about the state
    # of the recovery and R033 answers it (the state, the amounts recovered and remitted, an instalment
    # arrangement); R025 (case owner) amends the claim; R034 (either side) notifies a contestation of the
    # claim or of the enforcement, which may suspend the recovery; R036 (case owner) withdraws the request.
    # UNCERTAIN: no public source names the content of R019, R025, R033, R034 or R036; each follows
    # R_BUC_07's flow [CAT][SVAR] and the recovery articles of Regulation 987/2009 [REG987].
    "R019": S(F("RecoveryStatusRequest", [F("RecoveryRequest", REF, "?"),
                                          F("RequestedItem", E(["state_of_recovery", "amounts_recovered", "measures_taken",
                                                                "payment_arrangement"]), "+", ex="amounts_recovered"),
                                          F("Question", T2, "?")])),
    "R025": S(F("ClaimAmendment", [F("RecoveryRequest", REF, "?"),
                                   F("Kind", E(["amount_reduced", "amount_increased", "paid_directly_by_debtor", "other"]),
                                     ex="paid_directly_by_debtor"),
                                   F("NewAmount", M), F("PaidDirectly", M, "?"), F("EffectiveDate", D),
                                   F("Text", T2, ex="The debtor paid part of the claim directly.")])),
    # R028: request for reimbursement of the costs of recovery, Articles 85(2) and 85(3) of Regulation
    # 987/2009; it concerns a person or an employer [CH-SED] R028-4-2-no.htm, R028-4-2-sv.htm (CDM 4.2).
    # UNCERTAIN: the excerpts found show the legal basis and the person/employer choice only; the cost
    # items, total and account follow the title.
    "R028": S(F("CostReimbursementRequest", [F("Concerns", E(["person", "employer"])), F("Employer", "EmployerType", "?"),
                                             F("RecoveryRequestReference", NES, ex="R017-2026-0003"),
                                             F("Cost", [F("Description", NES, ex="Bailiff's fees"), F("Amount", M),
                                                        F("Date", D, "?")], "+"),
                                             F("TotalAmount", M), F("BankAccount", BANK), F("Remarks", T2, "?")])),
    # R029: the reply to R028, the request for reimbursement of the costs of recovery (Article 85(2)-(3) of
    # Regulation 987/2009 [REG987], [CH-SED] R028_en.htm): agreed or not, the amount reimbursed, the
    # payment date, the reason. UNCERTAIN: R029's own form was not found.
    "R029": S(F("CostReimbursementReply", [F("CostReimbursementRequestReference", NES, "?", ex="R028-2026-0001"),
                                           F("Outcome", DEC), F("ReimbursedAmount", M, "?"), F("PaymentDate", D, "?"),
                                           F("Reason", T2, "?")])),
    "R033": S(F("RecoveryStatus", [F("State", E(["in_progress", "recovered_in_full", "recovered_in_part", "suspended",
                                                 "not_recoverable"]), ex="recovered_in_part"),
                                   F("MeasureTaken", NES, "*", ex="Attachment of earnings"), F("AmountRecovered", M, "?"),
                                   F("AmountRemitted", M, "?"), F("RemittanceDate", D, "?"),
                                   F("PaymentArrangement", [F("Instalments", N, ex="12"), F("Period", P)], "?"),
                                   F("Text", T2, "?")])),
    "R034": S(F("DisputeNotification", [F("Concerns", E(["person", "employer"])), F("Employer", "EmployerType", "?"),
                                        F("Disputed", E(["claim", "instrument_permitting_enforcement", "enforcement_measures",
                                                         "notification"]), ex="claim"),
                                        F("DisputeDate", D), F("CompetentBody", NES, "?", ex="Labour court of Gent"),
                                        F("RecoverySuspended", B), F("Text", T2, ex="The recovery procedure was suspended by a court.")])),
    "R036": S(F("Withdrawal", [F("RecoveryRequest", REF, "?"),
                               F("Reason", E(["claim_paid", "claim_cancelled", "claim_time_barred", "other"]), ex="claim_cancelled"),
                               F("WithdrawalDate", D), F("Text", T2, "?")])),
    # ---- S ----
    "S001": S(F("LongTermCarePayment", [F("MonthlyAmount", M), F("From", D), F("Remarks", T2, "?")])),
    "S005": S(F("EntitlementChange", [F("Kind", E(["change", "end"])), F("ChangeDate", D), F("Text", T2, "?")])),
    # S040: NAV's CPI model of S040 for CDM 4.3 [CPI] (S040Cpi.kt: Person, AddressPerson.residenceInThisCountrySince,
    # Request{typeBenefitConcerned, natureBenefitConcerned, PeriodConcerned{FixedPeriod | OpenPeriod{typeOpenPeriod,
    # startDate}}}, AdditionalInformation; value lists from neessi-api-openapi v4.3 s040/model.yaml) and [WSED]
    # S040Sed. The fixed and the open period are both optional here (XSD 1.0 cannot say "one of").
    "S040": S(F("ResidenceInThisCountrySince", D, "?", ex="2019-09-01"),
              F("Request", [F("TypeOfBenefitConcerned", E(["sickness", "maternity", "paternity"])),
                            F("NatureOfBenefitConcerned", E(["in_cash", "in_kind"])),
                            F("PeriodConcerned", [F("FixedPeriod", FP, "?"),
                                                  F("OpenPeriod", [F("TypeOpenPeriod", E(["open_ended", "end_date_unknown"])),
                                                                   F("StartDate", D)], "?")])]),
              F("AdditionalInformation", T4, "?", ex="Periods of sickness benefit paid since 2025 are requested.")),
    "S046": S(F("PaymentInformation", [F("Outcome", E(["paid", "not_paid"])), F("Period", P), F("DailyAmount", M, "?"),
                                       F("Reason", T2, "?")])),
    "S055": S(F("Claim", [F("IncapacitySince", D), F("ClaimDate", D), F("Employer", "EmployerType", "?")])),
    # S_BUC_19, S_BUC_21, S_BUC_22, S_BUC_23 masters and S_BUC_01 ([CH-SED] in seds.toml)
    "S028": NOTE("InterestCreditNote", "CRN-ILP-2026-0002", F("InterestClaimReference", NES, ex="ILP-2026-0002"),
                 F("TotalNumberOfCreditNotes", N), F("TotalAmountOfCreditNotes", M)),
    "S032": NOTE("InterestPayment", "PAY-ILP-2026-0002", F("InterestClaimReference", NES, ex="ILP-2026-0002"),
                 F("TotalNumberOfIndividualPayments", N), F("TotalInterestAmount", M), F("TotalPaymentAmount", M)),
    "S054": NOTE("RefundDecision", "IRO-IO-2026-0002", F("OverpaymentReference", NES, ex="IO-2026-0002"),
                 F("TotalAmountOfOverpayments", M),
                 F("MethodOfRefund", E(["bank_transfer", "offset_against_claim"])), F("BankAccount", BANK, "?")),
    "S085": NOTE("CreditNote", "CRN-2026-0002", F("ClaimReference", NES, ex="CLA-2026-0002"),
                 F("TotalNumberOfCreditNotes", N), F("TotalAmountOfCreditNotes", M)),
    "S105": NOTE("FixedAmounts", "IMO-2026-0001-2", F("InventoryReference", NES, ex="IMO-2026-0001"),
                 F("TotalNumberOfMonths", N), F("Remarks", T2, "?")),
    # ---- UB ----
    # U001: request for the insurance record (periods and, where asked, salaries) of another State (Articles
    # 61 of Regulation 883/2004 and 54 of Regulation 987/2009 [REG883][REG987]); the EC's guidance on its
    # twin U001CB [EC-GUIDE] asks for as much as helps the certifying State: the employers' addresses, the
    # bodies keeping records, supporting documents (employment certificate, payslips). UNCERTAIN: field names
    # are this project's.
    "U001": S(F("HistoryRequest", [F("RequestedPeriod", P), F("UnemploymentClaimDate", D, "?"),
                                   F("Employer", "EmployerType", "*"),
                                   F("RecordKeepingBody", NES, "*", ex="Uitvoeringsinstituut Werknemersverzekeringen"),
                                   F("SupportingDocuments", DOCS, "?"), F("Question", T2, "?")])),
    "U001CB": S(F("HistoryRequest", [F("RequestedPeriod", P), F("FrontierWorker", B, ex="true"), F("Question", T2, "?")])),
    # U002: the insurance record (the adapter onem-periods maps InsuredPerson and InsurancePeriods: kept, the
    # rest is optional and comes after), then as NAV's model of U002 has it [WSED sed.d.ts U002Sed,
    # SisteAnsettelseInfo, Utbetaling; WAPP SisteAnsettelseInfo.tsx and el.json for the value lists]: the
    # period asked for; employment and self-employment periods with or without insurance (employer, income
    # and hours); other periods (sickness, pregnancy or child care, education, military service,
    # deprivation of liberty, voluntary insurance, other); compensated holiday; unemployment-benefit
    # periods (institution); the last employment (why it ended, waiver of rights, other benefits, the
    # payments after it).
    "U002": S(F("InsurancePeriods", IPS),
              F("RequestedPeriod", P, "?"),
              F("EmploymentPeriod", [F("Period", P), F("Kind", E(["employed", "self_employed"])), F("Insured", B, ex="true"),
                                     F("Employer", "EmployerType", "?"),
                                     F("IncomeAndHours", [F("Period", P), F("GrossIncome", M), F("Hours", N, ex="160")], "*"),
                                     F("IncomeAndHoursInformation", T2, "?")], "*"),
              F("OtherPeriod", [F("Period", P),
                                F("Kind", E(["sickness", "pregnancy_or_child_care", "education", "military_service",
                                             "deprivation_of_liberty", "voluntary_insurance", "other"])),
                                F("OtherKind", NES, "?", ex="Care of a relative")], "*"),
              F("CompensatedHoliday", [F("Period", P), F("Amount", M)], "*"),
              F("UnemploymentBenefitPeriod", [F("Period", P), F("Institution", I, ex="NL:UWV")], "*"),
              F("LastEmployment", [F("EndReasonEmployed", E(["dismissed_by_employer", "resigned", "contract_expired",
                                                            "ended_by_mutual_agreement", "dismissed_for_disciplinary_reasons",
                                                            "redundancy", "unknown", "other"]), "?"),
                                   F("OtherEndReason", NES, "?", ex="Business closed"),
                                   F("EndReasonSelfEmployed", NES, "?", ex="Bankruptcy"),
                                   F("WaiverOfRights", T2, "?"), F("OtherBenefits", T2, "?"),
                                   F("Payment", [F("Kind", E(["income_after_end_of_employment", "compensation_for_holiday_not_taken",
                                                              "other_compensation"])),
                                                 F("PaidUntil", D, "?"), F("HolidayDaysOwed", N, "?", ex="5"), F("Amount", M)], "*")], "?")),
    # U003: request for salary information, Article 62 of Regulation 883/2004 and Article 54(2) of Regulation
    # 987/2009 ([CH-SED] U003-4-1-en.htm "Request Salary Info", CDM 4.1). The EC's guidance on U003
    # [EC-GUIDE] https://9dok.net/document/qmj7j1k4-sed-u-request-salary-info.html: the request identifies
    # the record: the last address in the State of the former activity, the employment or self-employment
    # whose income is to be certified (the employer), supporting documents (payslips, tax returns), and
    # whether net or gross earnings are wanted; the salary comes back as the average per month of the
    # period (U004, NAV's model [WSED U004Sed, Loennsopplysning]). UNCERTAIN: field names are this project's.
    "U003": S(F("WagesRequest", [F("ReferencePeriod", FP), F("LastAddressInMemberStateOfActivity", ADDRESS_FIELDS, "?"),
                                 F("Activity", [F("Kind", E(["employed", "self_employed"])), F("Employer", "EmployerType", "?"),
                                                F("SelfEmployedActivity", NES, "?", ex="Bakery")], "*"),
                                 F("EarningsKind", E(["gross", "net"])), F("SupportingDocuments", DOCS, "?"),
                                 F("Question", T2, "?")])),
    "U004": S(F("Wages", [F("Wage", [F("Period", FP), F("GrossAmount", M)], "+")])),
    # U005/U006: family information for an unemployment benefit whose amount depends on the family members
    # (UB_BUC_01 [CAT]): who the family members are,
    # whether they are dependants, their income. The adapter onem-family maps U006's
    # FamilyInformation/NumberOfDependants and Text: kept; the family members come after them. UNCERTAIN:
    # no public source shows the forms' fields.
    "U005": S(F("FamilyRequest", [F("ReferenceDate", D, "?"),
                                  F("RequestedItem", E(["family_members", "dependants", "income_of_family_members",
                                                        "family_benefits"]), "*"),
                                  F("Question", T2, ex="Please send the composition of the household.")])),
    "U006": S(F("FamilyInformation", [F("NumberOfDependants", N), F("Text", T2, "?"),
                                      F("FamilyMember", [F("Relationship", E(["spouse", "partner", "child", "other"])),
                                                         F("FamilyName", NES, ex="Verhoeven"), F("Forename", NES, ex="Noor"),
                                                         F("DateBirth", D, ex="2016-04-12"), F("Dependant", B, ex="true"),
                                                         F("Income", M, "?")], "*")])),
    # UB_BUC_02, export of unemployment benefits (Article 64 of Regulation 883/2004, Article 55 of
    # Regulation 987/2009 [REG883][REG987]): U007 asks the competent institution for the export document
    # (registered as a jobseeker, the departure, the destination, the period asked for); U009 notifies the
    # registration with the employment services of the State gone to (the date, the new address:
    # Article 55(2)); U010/U011 and U012/U013 are the follow-up, either way: U010 asks how the job search is
    # followed up (registration, checks complied with) and U011 answers; U012 asks about, U013 tells of, a
    # circumstance likely to affect the entitlement (Article 55(4)); U014 ends the export, with the reason.
    # UNCERTAIN: the forms' fields are not public; they follow the regulation.
    "U007": S(F("ExportDocumentRequest", [F("RegistrationDate", D), F("UnemployedSince", D, "?"), F("DepartureDate", D),
                                          F("DestinationMemberState", C, ex="NL"), F("RequestedExportPeriod", P, "?"),
                                          F("Question", T2, "?")])),
    "U008": S(F("ExportDocument", [F("ExportPeriod", FP), F("CompetentInstitution", I, ex="NL:UWV"),
                                   F("Obligations", T2, "?", ex="Report to the employment services every month.")])),
    "U009": S(F("Registration", [F("RegistrationDate", D), F("Institution", I, ex="BE:ONEM"),
                                 F("AddressInMemberStateOfRegistration", ADDRESS_FIELDS, "?"),
                                 F("ExportDocumentReceived", B, "?", ex="true")])),
    "U010": S(F("FollowUpRequest", [F("ConcernedPeriod", P, "?"),
                                    F("RequestedItem", E(["still_registered", "checks_complied_with", "availability",
                                                          "job_search_activities"]), "+", ex="checks_complied_with"),
                                    F("Question", T2, "?")])),
    "U011": S(F("FollowUpReply", [F("ConcernedPeriod", P, "?"), F("StillRegistered", B, ex="true"),
                                  F("ChecksCompliedWith", B, ex="true"), F("DeregistrationDate", D, "?"),
                                  F("Text", T2, "?")])),
    "U012": S(F("CircumstancesRequest", [F("Circumstance", E(["employment_found", "self_employment_started", "refused_suitable_job", "not_available", "sickness", "deregistered", "left_member_state", "other"]), "*", ex="employment_found"),
                                         F("ConcernedPeriod", P, "?"), F("Question", T2, "?")])),
    "U013": S(F("CircumstancesInformation", [F("Circumstance", E(["employment_found", "self_employment_started", "refused_suitable_job", "not_available", "sickness", "deregistered", "left_member_state", "other"]), ex="employment_found"), F("Date", D),
                                             F("Employer", "EmployerType", "?"), F("Text", T2, "?")])),
    "U014": S(F("EndOfExport", [F("EndDate", D),
                                F("ReasonType", E(["employment_found", "export_period_ended", "returned_to_competent_state",
                                                   "deregistered", "entitlement_ended", "other"]), ex="employment_found"),
                                F("Reason", T2, ex="The person found a job.")])),
    # U017: the insurance record of a cross-border worker: U002's content (the adapter onem-frontier-periods
    # maps InsurancePeriods, kept) and the right to benefits [WSED U017Sed, RettTilYtelse; WAPP
    # RettTilYtelser.tsx]: confirmed under Article 64 or 65(1) of Regulation 883/2004, or rejected (no
    # entitlement under the issuing institution's legislation, export not claimed properly), for a period.
    "U017": S(F("InsurancePeriods", IPS),
              F("RequestedPeriod", P, "?"),
              F("EmploymentPeriod", [F("Period", P), F("Kind", E(["employed", "self_employed"])), F("Insured", B, ex="true"),
                                     F("Employer", "EmployerType", "?"),
                                     F("IncomeAndHours", [F("Period", P), F("GrossIncome", M), F("Hours", N, ex="160")], "*"),
                                     F("IncomeAndHoursInformation", T2, "?")], "*"),
              F("OtherPeriod", [F("Period", P),
                                F("Kind", E(["sickness", "pregnancy_or_child_care", "education", "military_service",
                                             "deprivation_of_liberty", "voluntary_insurance", "other"])),
                                F("OtherKind", NES, "?", ex="Care of a relative")], "*"),
              F("CompensatedHoliday", [F("Period", P), F("Amount", M)], "*"),
              F("UnemploymentBenefitPeriod", [F("Period", P), F("Institution", I, ex="NL:UWV")], "*"),
              F("LastEmployment", [F("EndReasonEmployed", E(["dismissed_by_employer", "resigned", "contract_expired",
                                                            "ended_by_mutual_agreement", "dismissed_for_disciplinary_reasons",
                                                            "redundancy", "unknown", "other"]), "?"),
                                   F("OtherEndReason", NES, "?", ex="Business closed"),
                                   F("EndReasonSelfEmployed", NES, "?", ex="Bankruptcy"),
                                   F("WaiverOfRights", T2, "?"), F("OtherBenefits", T2, "?"),
                                   F("Payment", [F("Kind", E(["income_after_end_of_employment", "compensation_for_holiday_not_taken",
                                                              "other_compensation"])),
                                                 F("PaidUntil", D, "?"), F("HolidayDaysOwed", N, "?", ex="5"), F("Amount", M)], "*")], "?"),
              F("RightToBenefit", [F("ConfirmationGround", E(["article_64", "article_65_1"]), "?"),
                                   F("RejectionGround", E(["no_entitlement_under_issuing_legislation",
                                                           "export_not_claimed_properly"]), "?"),
                                   F("Period", P, "?")], "?")),
    # U018/U019: a wholly unemployed frontier worker may also register with the employment services of the
    # State of last activity (Article 65(2) of Regulation 883/2004, Article 56 of Regulation 987/2009
    # [REG883][REG987]): U018 asks whether and since when the person is registered there, U019 answers.
    # UNCERTAIN: the forms' fields follow the titles.
    "U018": S(F("RegistrationRequest", [F("RegistrationDate", D), F("ConcernedPeriod", P, "?"), F("Question", T2, "?")])),
    "U019": S(F("RegistrationReply", [F("Registered", B, ex="true"), F("RegistrationDate", D, "?"), F("DeregistrationDate", D, "?"),
                                      F("Institution", I, "?", ex="NL:UWV"), F("Remarks", T2, "?")])),
    # U020: reimbursement of unemployment benefits, Articles 65(6) and 65(7) of Regulation 883/2004 and
    # Article 70 of Regulation 987/2009 [CH-SED] U020-4-1-en.htm (CDM 4.1): general information (the
    # reimbursement request ID, the number of individual claims, the total amount requested, the SEPA bank
    # details with the transfer reference) and the individual claims, each about a person.
    # UNCERTAIN: the excerpt ends at the individual claim's person; its period and amount follow the title.
    "U020": S(F("ReimbursementRequest", [F("ReimbursementRequestId", NES, ex="U020-2026-0007"),
                                         F("NumberOfIndividualClaims", N, ex="1"), F("TotalAmountRequested", M),
                                         F("BankAccount", BANK), F("TransferReference", NES, ex="U020-2026-0007 ONEM")]),
              F("IndividualClaim", [F("SequentialNumber", N, ex="1"), F("Person", UB_CLAIM_PERSON),
                                    F("Period", FP), F("Amount", M)], "+")),
    "U021": S(F("ReimbursementReply", [F("Outcome", DEC), F("AcceptedAmount", M, "?"), F("Reason", T2, "?")])),
    # UB_BUC_04 after the reimbursement request U020 [SVAR]: U023 contests it (a contestation ID, per
    # individual claim the claim contested and why), U029 answers the contestation with an amended request
    # (NAV's U029 master and child documents [EPDF]: the reimbursement request ID, the contestation ID, the
    # amended request ID, the updated total; per individual claim the IDs, the sequential number, the
    # status, the person, the institution that certified the insurance record, the working periods
    # considered, the reimbursement period, the last payment date, the amount); U024 tells the payment and
    # U025 acknowledges it. UNCERTAIN: U023's, U024's and U025's fields follow U029 and the titles; the
    # contestation reasons and U029's status codes (01, 02, 03 read as active, inactive, closed [EPDF]) are
    # not in a public code list.
    "U023": S(F("ReimbursementContest", [F("ReimbursementRequestId", NES, ex="U020-2026-0007"), F("ReimbursementContestationId", NES, ex="COC-U020-2026-0007"),
                                         F("NumberOfContestedClaims", N, ex="1"), F("ContestedAmount", M),
                                         F("Reason", T2, ex="The person was not unemployed for the whole period.")]),
              F("ContestedIndividualClaim", [F("SequentialNumber", N, ex="1"), F("ContestedIndividualClaimId", NES, ex="U020-2026-0007-1"),
                                             F("Person", UB_CLAIM_PERSON), F("ContestedAmount", M),
                                             F("Reason", E(["not_unemployed", "period_not_covered", "amount_too_high",
                                                            "claim_submitted_late", "other"]), ex="period_not_covered"),
                                             F("Text", T2, "?")], "*")),
    "U024": S(F("ReimbursementPayment", [F("ReimbursementRequestId", NES, ex="U020-2026-0007"), F("Amount", M), F("PaymentDate", D),
                                         F("PaymentReference", NES, "?", ex="U020-2026-0007 ONEM"),
                                         F("PaidIndividualClaim", [F("SequentialNumber", N, ex="1"), F("Amount", M)], "*")])),
    "U025": S(F("PaymentAcknowledgement", [F("ReimbursementRequestId", NES, ex="U020-2026-0007"), F("AmountReceived", M), F("DateOfReceipt", D),
                                           F("Remarks", T2, "?")])),
    # U026: charging interest, Articles 65(6), 65(7) of Regulation 883/2004, 70 and 68(2) of Regulation
    # 987/2009 [CH-SED] U026_en.htm (CDM 4.2): the reimbursement request ID, the due date, the total amount
    # of outstanding claims, the interest rate; the individual claims the interest applies to (sequential
    # number, person).
    "U026": S(F("InterestClaim", [F("ReimbursementRequestId", NES, ex="U020-2026-0007"), F("DueDate", D),
                                  F("TotalOutstandingAmount", M), F("InterestRate", PCT, ex="3.5")]),
              F("IndividualClaim", [F("SequentialNumber", N, ex="1"), F("Person", UB_CLAIM_PERSON)], "+")),
    # U027: reply on interest, Articles 65(6), 65(7) of Regulation 883/2004, 70 and 68(2) of Regulation
    # 987/2009 [CH-SED] U027-4-1-en.htm (CDM 4.1): the reimbursement request ID; charging of interest
    # accepted, partially accepted or not accepted; if not, the reason (a code list; 99 other with further
    # information); if partially, the individual claims that cannot be subjected to interest (sequential
    # number). UNCERTAIN: the reason's code values are not in the excerpt: free text here.
    "U027": S(F("InterestReply", [F("ReimbursementRequestId", NES, ex="U020-2026-0007"),
                                  F("ChargingOfInterestAccepted", E(["accepted", "partially_accepted", "not_accepted"]),
                                    ex="partially_accepted"),
                                  F("ReasonForNonAcceptance", NES, "?", ex="Other"),
                                  F("AdditionalInformation", T2, "?"),
                                  F("ClaimNotSubjectToInterest", [F("SequentialNumber", N, ex="1")], "*")])),
    "U029": S(F("GeneralInformation", [F("ReimbursementRequestId", NES, ex="U020-2026-0007"), F("ReimbursementContestationId", NES, ex="COC-U020-2026-0007"),
                                       F("AmendedReimbursementRequestId", NES, ex="U029-2026-0003"),
                                       F("UpdatedTotalAmountRequested", M)]),
              F("IndividualClaim", [F("ReimbursementRequestId", NES, ex="U020-2026-0007"), F("ReimbursementContestationId", NES, ex="COC-U020-2026-0007"),
                                    F("AmendedReimbursementRequestId", NES, ex="U029-2026-0003"),
                                    F("SequentialNumber", N, ex="1"),
                                    F("ContestedIndividualClaimId", NES, "?", ex="U020-2026-0007-1"),
                                    F("AmendedContestedIndividualClaimId", NES, "?", ex="U029-2026-0003-1"),
                                    F("Status", E(["01", "02", "03"])), F("Person", UB_CLAIM_PERSON),
                                    F("InstitutionWhichCertifiedInsuranceRecord", I, ex="NL:UWV"),
                                    F("WorkingPeriodConsidered", P, "+"), F("ReimbursementPeriod", P),
                                    F("LastPaymentDate", D), F("RequestedAmount", M)], "*")),
    # ---- AD (X) ----
    # X002: request to reopen a closed case: the reason (new information available, wrong information given,
    # case closed by mistake, other) and its text [WAPP x002.d.ts Gjenaapning, Gjenaapning.tsx, mocks/seds/x002.json].
    "X002": S(F("ReopenRequest", [F("ClosureDate", D, "?"),
                                  F("ReasonType", E(["new_information_available", "incorrect_information_provided",
                                                     "case_closed_by_mistake", "other"]), ex="new_information_available"),
                                  F("Reason", T2, ex="A new claim arrived for the same person.")]), persons=CONTEXT),
    # X003: the reply to X002: agreed or not and, if not, why (the person died, the case was archived, other)
    # [WAPP x003.d.ts SvarGjenaapning, SvarGjenaapning.tsx, mocks/seds/x003.json].
    "X003": S(F("ReopenReply", [F("Answer", E(["agree", "disagree"])),
                                F("ReasonType", E(["person_deceased", "case_archived", "other"]), "?"),
                                F("Reason", T2, "?")]), persons=CONTEXT),
    # X004: the case owner's decision on the reopening: whether the case is reopened and, if not, why (no
    # participant, or some participants, cannot reopen it) [WAPP x004.d.ts BekreftelseGjenaapning,
    # BekreftelseGjenaapning.tsx, mocks/seds/x004.json]. The engine reopens on X004 (AD_BUC_02) whatever it
    # says: a "no" is information for the participants.
    "X004": S(F("Reopening", [F("ReopeningDate", D), F("CaseReopened", E(["yes", "no"]), ex="yes"),
                              F("ReasonType", E(["no_participant_can_reopen", "some_participants_cannot_reopen"]), "?"),
                              F("Reason", T2, "?")]), persons=CONTEXT),
    # X005: the institution added to the case and the reason [PRE X005-NAV.json leggtilinstitusjon{institusjon,
    # grunn}]; the engine reads AddParticipant/Institution/InstitutionID (AD_BUC_03): kept first.
    "X005": S(F("AddParticipant", [F("Institution", I, ex="DE:DRV"), F("Reason", T2, "?")]), persons=CONTEXT),
    # X006: the institution removed from the case [M-SED nav/X006FjernInstitusjon.kt, M-MOCK sedX006.json] and the
    # reason; the engine reads RemoveParticipant/Institution/InstitutionID (AD_BUC_04): kept first.
    "X006": S(F("RemoveParticipant", [F("Institution", I, ex="DE:DRV"), F("Reason", T2, "?")]), persons=CONTEXT),
    # X007: forwarding the case: the institution it goes to, the one it leaves, why (the institution is not,
    # or no longer, the competent one; other) and the text [WAPP x007.d.ts Videresend, Videresend.tsx,
    # mocks/seds/x007.json]. The engine reads ForwardTo/Institution/InstitutionID (AD_BUC_05): kept first.
    "X007": S(F("ForwardTo", [F("Institution", I, ex="DE:DRV"), F("RemovedInstitution", I, "?", ex="NL:GAK"),
                              F("ReasonType", E(["institution_not_competent", "institution_no_longer_competent", "other"]), "?"),
                              F("Reason", T2, ex="The German pension insurer is competent.")]), persons=CONTEXT),
    "X008": S(F("Invalidation", [F("InvalidatedSed", "SedTypeCodeType", ex="P8000"), F("DocumentID", "DocumentIdType"),
                                 F("IssueDate", D),
                                 F("ReasonType", E(["sent_in_error", "wrong_person", "wrong_content", "duplicate", "other"])),
                                 F("ReasonText", T2, "?")]), persons=CONTEXT),
    "X009": S(F("Reminder", [F("Item", [F("SedType", "SedTypeCodeType", ex="P8000"), F("DocumentID", "DocumentIdType", "?"),
                                        F("Description", NES, ex="Reply to our request for additional information")], "+"),
                             F("ReplyBefore", D, "?")]), persons=CONTEXT),
    "X010": S(F("ReminderReply", [F("Answer", E(["reply_by_date", "reply_impossible"])), F("ExpectedReplyDate", D, "?"),
                                  F("Reason", T2, "?")]), persons=CONTEXT),
    "X011": S(F("Rejection", [F("RejectedDocument", REF),
                              F("ReasonType", E(["not_competent", "incomplete", "wrong_person", "wrong_buc", "other"])),
                              F("ReasonText", T2, ex="Our institution is not competent for this benefit.")]), persons=CONTEXT),
    "X012": S(F("Clarification", [F("Document", REF), F("Part", NES, ex="Section 5, insurance periods"),
                                  F("Reason", T2, ex="The end date of the second period is missing.")]), persons=CONTEXT),
    # X013: the reply to X012, the request for clarification of a document; X012 names, per item, the part
    # and the point to clarify and why [WAPP sed.d.ts X012Sed, KlargjoerInfoItem]: X013 answers item by item.
    # UNCERTAIN: no public model of X013 itself was found; its items mirror X012's.
    "X013": S(F("ClarificationReply", [F("Document", REF, "?"),
                                       F("ClarifiedItem", [F("Part", NES, ex="Section 5, insurance periods"),
                                                           F("Point", NES, "?", ex="5.2"),
                                                           F("Answer", T2, ex="The second period ended on 1999-12-31.")], "*"),
                                       F("Text", T4, ex="The second period ended on 1999-12-31.")]), persons=CONTEXT),
    "X050": S(F("BusinessException", [F("ErrorCode", NES, ex="BUSINESS_RULE_VIOLATION"),
                                      F("Description", T2, ex="The document could not be processed."),
                                      F("RelatedDocument", REF, "?")]), persons=CONTEXT),
    "X100": S(F("ParticipantChange", [F("OldInstitution", I, ex="NL:GAK"), F("NewInstitution", I, ex="NL:UWV"),
                                      F("ChangeDate", D), F("Reason", T2, "?")]), persons=CONTEXT),
}

# The bulk master documents of S_BUC_19, 21 and 23 not modelled yet keep a generic request or reply body. (S080
# keeps it on purpose: adapters, routing rules and tests depend on its shape.) The person-based sickness SEDs
# and the other bulk SEDs have their content below.
for _s in ["S080", "S100", "S116"]:
    SPEC[_s] = REQ("Sickness benefits")
for _s in ["S053A"]:
    SPEC[_s] = REP()

# ---------------------------------------------------------------------------------------------
# Sickness (S): the person-based SEDs of the entitlement, scheduled-treatment, frontier-worker and
# reimbursement-rate flows. Sources, besides the tags of buc-definitions/seds.toml:
#   [IPG]    the EC's "International Process Guidelines Sickness", one per BUC (v4.1.0, 11/09/2018, CDM
#            4.1.0), as copied at https://9dok.net/document/<id>-international-process-guidelines-sickness.html:
#            S_BUC_01a z3d2dwre, S_BUC_02 y8gmg5jr, S_BUC_04 q2nwn2xp, S_BUC_09 q7w2w1gd, S_BUC_14 y8gmg59r,
#            S_BUC_17 yr3437n7, S_BUC_18 zwv4vx7l, S_BUC_18a yd7r71pg. Their tables of contents name each SED
#            and say who sends it and what answers it (e.g. S_BUC_18: S006 "Request for Information of Status -
#            Former Frontier Worker - Family Member of Former Frontier Worker", S007 "Information of status",
#            S008 "Entitlement document - Former Frontier Worker", S130 "Acknowledgement of receipt of
#            entitlement document"); the copies break off after the contents, so the fields below them follow
#            the title, the flow and the legal basis: UNCERTAIN where so marked.
#   [UK-OHT] the UK Department of Health's RINA client model of S072 and S073 (CDM 4.0):
#            AgileSphereOHT/oht-common src/main/java/uk/doh/oht/rina/domain/documents/{S072,S073,
#            InformationRegistration,ConcernsDocument,PeriodEntitlement,StartingEndingDateRegistration,
#            ReasonForRefusalRegistration,AddressMainInsuredPerson,StatusOfPersonForWhomAnEntitlementDocument}.java
#            @77a25bb7 and @c2ddcb73.
# The shared types EntitlementStatusType (insured person or family member) and EntitlementDocumentRefType
# (the document a SED is about: type, issue date, period) of common.xsd were added for these SEDs.
# ---------------------------------------------------------------------------------------------

STATUS = F("StatusOfPerson", "EntitlementStatusType", ex="family_member")
MAIN_INSURED = F("MainInsuredPerson", PER, "?")   # filled in when the person is a family member
FREQUENCY = E(["daily", "weekly", "monthly", "quarterly", "yearly", "other"])


def TREATMENT(*extra):
    """A treatment in another Member State: what it is, where, by whom, when, then `extra`."""
    return [F("Description", T2, ex="Hip replacement surgery and the hospital stay after it."),
            F("MemberStateOfTreatment", C, ex="BE"),
            F("HealthcareProvider", NES, "?", ex="Fictitious University Hospital, Leuven"),
            F("PlannedPeriod", P), *extra]


def REFUSAL(section, *reasons):
    """Why an entitlement or registration is refused: a reason from the list, with the date, date of
    death, country or text that reason asks for ([S072-G]: "a reason has to be chosen from the available
    list and if necessary additional information for specific reason (date, died on, ISO code, other
    reason)")."""
    return F(section, [F("Reason", E(list(reasons))), F("Date", D, "?"), F("DateDeath", D, "?"),
                       F("Country", C, "?", ex="DE"), F("OtherReason", T2, "?")], "?")


ENTITLEMENT_REFUSAL = ("not_insured", "insurance_ended", "insured_in_another_member_state", "person_died", "other")

SPEC.update({
    # S003 "Entitlement to Benefits in Kind - Long term care", the answer to S001 in S_BUC_17 [IPG S_BUC_17]:
    # the institution of residence tells the competent institution paying long-term care cash benefits
    # (S001) which long-term care benefits in kind the person is entitled to there, so that the cash benefit
    # can be reduced by them (Article 34 of Regulation 883/2004). UNCERTAIN: the fields follow the title
    # and Article 34; the form's own fields were not found.
    # UNCERTAIN: no public source describes its fields
    "S003": S(F("EntitlementToBenefitsInKind", [
        F("Entitled", B, ex="true"), F("EntitledSince", D, "?"),
        F("BenefitInKind", [F("Description", NES, ex="Home nursing care, ten hours a week"), F("Period", P),
                            F("Value", M, "?"), F("Frequency", FREQUENCY, "?", ex="monthly")], "*"),
        F("AdditionalInformation", T2, "?")])),
    # S006 "Request for Information of Status - Former Frontier Worker - Family Member of Former Frontier
    # Worker", answered by S007 [IPG S_BUC_18]; Article 28 of Regulation 883/2004 (continued treatment of a
    # former frontier worker in the former State of activity; 28(2): a pensioner who was a frontier worker
    # for two of the five years before). UNCERTAIN: fields follow the title and Article 28.
    # UNCERTAIN: no public source describes its fields
    "S006": S(STATUS, F("StatusRequest", [
        F("MemberStateOfFormerActivity", C, ex="BE"),
        F("Purpose", E(["continuation_of_treatment", "treatment_as_pensioner"]), ex="continuation_of_treatment"),
        F("ActivityAsFrontierWorker", P, "?"),
        F("Question", T2, "?", ex="Please confirm the periods of activity as a frontier worker.")]), MAIN_INSURED),
    # S007 "Information of status - Former Frontier Worker or Family Member of Former Frontier Worker", the
    # answer to S006 [IPG S_BUC_18]; Article 28 of Regulation 883/2004. UNCERTAIN: fields follow the title.
    # UNCERTAIN: no public source describes its fields
    "S007": S(STATUS, F("StatusInformation", [
        F("StatusConfirmed", B, ex="true"), F("MemberStateOfFormerActivity", C, ex="BE"),
        F("PeriodAsFrontierWorker", P, "*"), F("EndOfLastActivityAsFrontierWorker", D, "?"),
        F("Reason", T2, "?", ex="The person worked as a frontier worker until the end of 2025.")]), MAIN_INSURED),
    # S008 "Entitlement document - Former Frontier Worker / Family Member of Former Frontier Worker",
    # answered by S130 [IPG S_BUC_18] (the SED twin of portable document S3); Article 28 of Regulation
    # 883/2004. UNCERTAIN: fields follow the title and Article 28.
    # UNCERTAIN: no public source describes its fields
    "S008": S(STATUS, F("EntitlementDocument", [
        F("Basis", E(["continuation_of_treatment", "treatment_as_pensioner"]), ex="treatment_as_pensioner"),
        F("MemberStateOfTreatment", C, ex="BE"), F("PeriodOfEntitlement", P),
        F("AdditionalInformation", T2, "?")]), MAIN_INSURED),
    # S009 request for the entitlement document for scheduled treatment in S_BUC_08, answered by S010 (seds.toml
    # title; S_BUC_08 in [CAT]): Article 20 of Regulation 883/2004 and Article 26 of Regulation 987/2009 (the
    # authorisation of scheduled treatment; the institution of residence states whether the treatment can be
    # given there in a medically justifiable time). UNCERTAIN: no form or guidance of S009 was readable; the
    # fields follow Article 26.
    # UNCERTAIN: no public source describes its fields
    "S009": S(STATUS, F("ScheduledTreatmentRequest", [
        F("Treatment", TREATMENT(F("MedicalJustification", T2, "?", ex="No bed available within six months."))),
        F("CanBeGivenInMemberStateOfResidenceInTime", B, "?"),
        F("Attachments", DOCS, "?", ex="Medical report of the treating physician")]), MAIN_INSURED),
    # S010 the entitlement document for scheduled treatment, the answer to S009 in S_BUC_08 (seds.toml title;
    # the SED twin of portable document S2); Article 20 of Regulation 883/2004 and Article 26 of Regulation
    # 987/2009: authorised (the treatment, where, the period of validity) or refused (why). UNCERTAIN: fields
    # follow Article 26 and the S2's content.
    # UNCERTAIN: no public source describes its fields
    "S010": S(STATUS, F("EntitlementDocument", [
        F("Authorised", B, ex="true"),
        F("AuthorisedTreatment", TREATMENT(F("PeriodOfValidity", P)), "?"),
        REFUSAL("ReasonForRefusal", "treatment_available_in_time", "not_insured", "treatment_not_covered", "other"),
        F("AdditionalInformation", T2, "?")]), MAIN_INSURED),
    # S011 / S012: urgent vitally necessary treatment in S_BUC_11 (seds.toml titles): Article 26(3) of
    # Regulation 987/2009 (the institution of residence authorises urgent vitally necessary treatment on behalf
    # of the competent institution and informs it at once). UNCERTAIN: fields follow Article 26(3).
    # UNCERTAIN: no public source describes its fields
    "S011": S(STATUS, F("UrgentTreatment", [
        F("Treatment", TREATMENT()), F("Urgency", T2, ex="Treatment cannot wait: risk of permanent damage."),
        F("AuthorisedOnBehalfOfCompetentInstitution", B, ex="true"), F("AuthorisationDate", D, "?"),
        F("Attachments", DOCS, "?", ex="Medical report of the treating physician")]), MAIN_INSURED),
    # UNCERTAIN: no public source describes its fields
    "S012": S(F("UrgentTreatmentReply", [
        F("Outcome", DEC), F("CoveredPeriod", P, "?"), F("EntitlementDocumentIssued", "EntitlementDocumentRefType", "?", ex="S2"),
        F("Reason", T2, "?", ex="The person is not insured with us on the treatment dates.")])),
    # S014 / S015: coverage of a specific benefit in kind in S_BUC_07 (seds.toml titles). UNCERTAIN: no source
    # describes the fields; they follow the title: the benefit asked for and its cost, then whether the competent
    # institution covers it, for what period and amount.
    # UNCERTAIN: no public source describes its fields
    "S014": S(STATUS, F("CoverageRequest", [
        F("Benefit", TREATMENT(F("EstimatedCost", M, "?"))),
        F("Question", T2, ex="Does your institution cover this benefit in kind, and up to what amount?"),
        F("Attachments", DOCS, "?", ex="Quotation of the supplier")]), MAIN_INSURED),
    # UNCERTAIN: no public source describes its fields
    "S015": S(F("CoverageReply", [
        F("Outcome", DEC), F("CoveredPeriod", P, "?"), F("CoveredAmount", M, "?"), F("Conditions", T2, "?"),
        F("Reason", T2, "?", ex="Covered up to the national tariff.")])),
    # S016 cancellation of an entitlement document in S_BUC_03 (answered by S017, disputed by S050; seds.toml
    # title and [CAT]): the competent institution tells the institution of residence that the document no longer
    # applies (Article 24 of Regulation 987/2009: the institution of residence is told when the entitlement ends).
    # UNCERTAIN: fields follow the flow: the document, its end date, why.
    # UNCERTAIN: no public source describes its fields
    "S016": S(STATUS, F("Cancellation", [
        F("EntitlementDocument", "EntitlementDocumentRefType"), F("CancellationDate", D),
        F("Reason", E(["insurance_ended", "insured_in_another_member_state", "residence_changed", "person_died", "other"]),
          ex="insurance_ended"),
        F("OtherReason", T2, "?")]), MAIN_INSURED),
    # S017 reply to S016 or S050 in S_BUC_03 (seds.toml title): the registration ended on the date given, or on
    # another date. UNCERTAIN: fields follow the flow (the end date can be disputed by S050).
    # UNCERTAIN: no public source describes its fields
    "S017": S(F("CancellationReply", [
        F("EntitlementDocument", "EntitlementDocumentRefType"), F("RegistrationCancelled", B, ex="true"),
        F("EndDateOfRegistration", D), F("Text", T2, "?")])),
    # S018 "Cancellation of registration", answered by S019 "Reply to cancellation registration", the date of
    # which may be disputed by S050 "Dispute of date" [IPG S_BUC_04]: the institution of residence cancels the
    # registration made on an entitlement document. UNCERTAIN: fields follow the titles.
    # UNCERTAIN: no public source describes its fields
    "S018": S(STATUS, F("CancellationOfRegistration", [
        F("EntitlementDocument", "EntitlementDocumentRefType"), F("CancellationDate", D),
        F("Reason", E(["residence_changed", "person_died", "insured_in_member_state_of_residence", "other"]),
          ex="residence_changed"),
        F("NewAddress", ADDRESS_FIELDS, "?"), F("OtherReason", T2, "?")]), MAIN_INSURED),
    # UNCERTAIN: no public source describes its fields
    "S019": S(F("CancellationOfRegistrationReply", [
        F("EntitlementDocument", "EntitlementDocumentRefType"), F("CancellationAccepted", B, ex="true"),
        F("EndDateOfEntitlement", D), F("Text", T2, "?")])),
    # S035 "Request for extension of entitlement document - scheduled treatment", answered by S037 "Reply for
    # extension of entitlement document - scheduled treatment" [IPG S_BUC_09]: the institution of the Member
    # State of stay asks the competent institution to extend an authorisation (S2 / S010); the competent
    # institution may ask for medical information first. UNCERTAIN: fields follow the titles.
    # UNCERTAIN: no public source describes its fields
    "S035": S(STATUS, F("ExtensionRequest", [
        F("EntitlementDocument", "EntitlementDocumentRefType", ex="S010"), F("RequestedExtension", FP),
        F("Treatment", T2, ex="Rehabilitation after the hip replacement takes four more weeks."),
        F("Attachments", DOCS, "?", ex="Medical report of the treating physician")]), MAIN_INSURED),
    # UNCERTAIN: no public source describes its fields
    "S037": S(F("ExtensionReply", [
        F("EntitlementDocument", "EntitlementDocumentRefType", ex="S010"), F("Outcome", DEC),
        F("ExtendedPeriod", P, "?"), F("Reason", T2, "?")])),
    # S044 "Request for Entitlement Document - Temporary Stay": Articles 19, 27(1) of Regulation 883/2004,
    # Article 25 of Regulation 987/2009 [CH-SED] S044-4-1-en.htm (CDM 4.1): the institution of stay asks the
    # competent institution for an entitlement document for a person without a European Health Insurance
    # Card. UNCERTAIN: the copy stops after the person block; the request's fields follow Article 25.
    # UNCERTAIN: no public source describes its fields
    "S044": S(STATUS, F("Request", [
        F("MemberStateOfStay", C, ex="BE"), F("AddressInMemberStateOfStay", ADDRESS_FIELDS, "?"),
        F("PeriodOfStay", P), F("DateOfFirstTreatment", D, "?"),
        F("Reason", E(["no_ehic_presented", "ehic_expired", "other"]), ex="no_ehic_presented"),
        F("AdditionalInformation", T2, "?")]), MAIN_INSURED),
    # S045 "Entitlement document - temporary stay", the answer to S044: Articles 19, 27(1) of Regulation
    # 883/2004, Article 25 of Regulation 987/2009 [CH-SED] S045-4-2-pt.htm (CDM 4.2): entitled (the period),
    # or not (why). UNCERTAIN: the copy stops after the person block; fields follow Article 25.
    # UNCERTAIN: no public source describes its fields
    "S045": S(STATUS, F("EntitlementDocument", [
        F("Entitled", B, ex="true"), F("PeriodOfEntitlement", P, "?"),
        REFUSAL("ReasonForRefusal", *ENTITLEMENT_REFUSAL),
        F("AdditionalInformation", T2, "?")]), MAIN_INSURED),
    # S050 "Dispute of date" [IPG S_BUC_02, S_BUC_04, S_BUC_18a] ("Dispute registration date" in [IPG
    # S_BUC_01a]): a further request in S_BUC_01a, 02, 03, 04 and 18 against the registration, cancellation or
    # end date another SED gave (S073, S019, S131 ...). UNCERTAIN: fields follow the title.
    # UNCERTAIN: no public source describes its fields
    "S050": S(F("DisputeOfDate", [
        F("DisputedDocument", REF), F("DateKind", E(["registration_date", "cancellation_date", "end_of_entitlement"]),
                                      ex="registration_date"),
        F("DisputedDate", D), F("ProposedDate", D),
        F("Reason", T2, ex="The person registered with us on the first day of residence.")])),
    # S067 / S068: reimbursement rates in S_BUC_06 (seds.toml titles): the competent institution, asked to
    # reimburse a person who paid for treatment during a stay, asks the institution of stay for the rates that
    # apply there, Article 25(4)-(5) of Regulation 987/2009 (the twins of DA004 / DA005 in AW_BUC_03).
    # UNCERTAIN: fields follow Article 25 and the AW twins.
    # UNCERTAIN: no public source describes its fields
    "S067": S(F("RatesRequest", [
        F("MemberStateOfStay", C, ex="BE"),
        F("Treatment", [F("Date", D), F("Description", NES, ex="Consultation of a general practitioner"),
                        F("HealthcareProvider", NES, "?", ex="Fictitious medical practice, Ostend"),
                        F("AmountPaid", M)], "+"),
        F("Question", T2, ex="Please send the rates of reimbursement applicable to these treatments."),
        F("Attachments", DOCS, "?", ex="Invoices paid by the person")])),
    # UNCERTAIN: no public source describes its fields
    "S068": S(F("Rates", [
        F("Treatment", [F("Date", D), F("Description", NES, ex="Consultation of a general practitioner"),
                        F("ReimbursableAmount", M), F("RateApplied", NES, "?", ex="National tariff code 101076")], "+"),
        F("TotalReimbursableAmount", M), F("AdditionalInformation", T2, "?")])),
    # S071 request for an entitlement document - residence (seds.toml: title not in the sources): the
    # institution of the place of residence, where the person asks to register, asks the competent institution
    # for the entitlement document S072 (Article 17 of Regulation 883/2004, Article 24 of Regulation 987/2009).
    # UNCERTAIN: fields follow the flow and S072's own fields [S072-G][UK-OHT].
    # UNCERTAIN: no public source describes its fields
    "S071": S(STATUS, F("EntitlementRequest", [
        F("ResidenceInThisCountrySince", D), F("EntitlementRequestedFrom", D),
        F("Reason", T2, "?", ex="The person asked to register with a health insurance fund on 2026-02-01."),
        F("Attachments", DOCS, "?", ex="Declaration of residence")]), MAIN_INSURED),
    # S072 "Entitlement document - Residence" [S072-G] (EC guidance) and [UK-OHT] S072.java: the status of the
    # person (insured person or family member, then the main insured person), the address of residence in the
    # receiving State, whether the entitlement is confirmed; if so its period (open or fixed, the start date
    # always), if not a reason from a list with the date, date of death, country or text it asks for; attachments.
    # The generic Request of the earlier schema stays first (the inami-entitlement adapter maps it); the content
    # follows it, optional so that a document made before still validates.
    "S072": S(F("Request", "InformationRequestType", ex="Sickness benefits"),
              F("Entitlement", [STATUS, F("AddressOfResidence", ADDRESS_FIELDS),
                                F("EntitlementConfirmed", B, ex="true"), F("PeriodOfEntitlement", P, "?"),
                                REFUSAL("ReasonForRefusal", *ENTITLEMENT_REFUSAL),
                                MAIN_INSURED, F("Attachments", DOCS, "?", ex="Certificate of insurance")], "?")),
    # S073 "Information of registration - Residence", the answer to S072 (or S050) in S_BUC_01a and the start of
    # S_BUC_02 [IPG S_BUC_01a, S_BUC_02]; [UK-OHT] S073.java and its parts: the status and address of the person,
    # the document the registration concerns (type, issue date), whether the person is registered and for what
    # period (start and end of the registration), the main insured person and his address (resident since),
    # the reason for refusal (insured as employed or self-employed, with the date; or another reason, in text).
    # UNCERTAIN: [UK-OHT] names only these two reasons of the form's list; the others are not known.
    "S073": S(STATUS, F("AddressOfResidence", ADDRESS_FIELDS),
              F("ConcernsDocument", "EntitlementDocumentRefType"),
              F("InformationRegistration", [F("Registered", B, ex="true"), F("RegistrationPeriod", P, "?")]),
              MAIN_INSURED,
              F("AddressMainInsuredPerson", [*ADDRESS_FIELDS, F("ResidenceInThisCountrySince", D, "?")], "?"),
              F("ReasonForRefusalRegistration", [
                  F("Reason", E(["insured_as_employed_or_self_employed", "other"]),
                    ex="insured_as_employed_or_self_employed"),
                  F("Date", D, "?"), F("OtherReason", T2, "?")], "?")),
    # S077 "Cancellation of Entitlement Document - Former Frontier Worker or Family Member of Former Frontier
    # Worker", answered by S131 "Confirmation of cancellation of entitlement document - former frontier worker",
    # whose date S050 may dispute [IPG S_BUC_18a]. UNCERTAIN: fields follow the titles.
    # UNCERTAIN: no public source describes its fields
    "S077": S(STATUS, F("Cancellation", [
        F("EntitlementDocument", "EntitlementDocumentRefType", ex="S008"), F("CancellationDate", D),
        F("Reason", E(["insurance_ended", "insured_in_another_member_state", "person_died", "other"]), ex="insurance_ended"),
        F("OtherReason", T2, "?")]), MAIN_INSURED),
    # S130 "Acknowledgement of receipt of entitlement document - former frontier worker", the answer to S008
    # (or S050) [IPG S_BUC_18]. UNCERTAIN: fields follow the title.
    # UNCERTAIN: no public source describes its fields
    "S130": S(F("Acknowledgement", [
        F("EntitlementDocument", "EntitlementDocumentRefType", ex="S008"), F("DateOfReceipt", D),
        F("Registered", B, ex="true"), F("RegistrationDate", D, "?"), F("Reason", T2, "?")])),
    # UNCERTAIN: no public source describes its fields
    "S131": S(F("CancellationConfirmation", [
        F("EntitlementDocument", "EntitlementDocumentRefType", ex="S008"), F("CancellationConfirmed", B, ex="true"),
        F("EndDateOfRegistration", D), F("Text", T2, "?")])),
    # S041 "Reply to Request for Periods - Insurance Risk Type: Sickness, Maternity or Paternity", the answer
    # to S040: Article 6 of Regulation 883/2004, Article 12(1) of Regulation 987/2009 [CH-SED] /de/d/16287
    # (CDM 4.0.16). The reply repeats what S040 asked (type and nature of benefit, period concerned [CPI]) and
    # gives the periods, each with its kind, country and institution. UNCERTAIN: the copy stops after the
    # person block; the reply's fields follow S040.
    # UNCERTAIN: no public source describes its fields
    "S041": S(F("Reply", [F("TypeOfBenefitConcerned", E(["sickness", "maternity", "paternity"])),
                          F("NatureOfBenefitConcerned", E(["in_cash", "in_kind"])), F("PeriodConcerned", P),
                          F("PeriodsFound", B, ex="true")]),
              F("InsurancePeriods", IPS, "?"),
              F("AdditionalInformation", T4, "?", ex="No periods of voluntary insurance.")),
    # S047 "Information on cash benefits due to incapacity for work or other essential information, given by
    # the competent institution" (S_BUC_14a, seds.toml title): the incapacity the competent institution
    # recognises, whether it pays cash benefits (period, amount, or why not), the check it asks the institution
    # of residence or stay for (Article 27 of Regulation 987/2009), the person's obligations, other essential
    # information. UNCERTAIN: fields follow the title and Article 27.
    # UNCERTAIN: no public source describes its fields
    "S047": S(F("CashBenefitInformation", [
        F("IncapacityForWork", [F("Period", P), F("Recognised", B, ex="true")]),
        F("CashBenefits", [F("Paid", B, ex="true"), F("Period", P), F("DailyAmount", M, "?"), F("Reason", T2, "?")], "?"),
        F("CheckRequested", E(["administrative_check", "medical_examination", "none"]), "?", ex="medical_examination"),
        F("ObligationsOfThePerson", T2, "?", ex="Report any change in the incapacity at once."),
        F("OtherEssentialInformation", T2, "?", ex="Cash benefits are paid for the whole period.")])),
    # S048 "Information on ended incapacity for work or other essential information, given by the institution
    # of the place of residence or stay" (S_BUC_14b, seds.toml title): the end of the incapacity (the date, what
    # it rests on), whether the person appeared for the check, other essential information (Article 27(6)-(8)
    # of Regulation 987/2009). UNCERTAIN: fields follow the title and Article 27.
    # UNCERTAIN: no public source describes its fields
    "S048": S(F("EndOfIncapacity", [
        F("EndDate", D), F("FitForWorkFrom", D, "?"),
        F("BasedOn", E(["medical_examination", "administrative_check", "statement_of_the_person", "other"]),
          ex="medical_examination"),
        F("PersonAppearedForCheck", B, "?", ex="true"),
        F("OtherEssentialInformation", T2, "?", ex="The person resumed work on the date given.")])),
    # S056 "Notification of application for cash benefits - long-term care" (S_BUC_15, seds.toml title;
    # answered by S057 [SVAR]): the institution that received the claim forwards it to the competent
    # institution (Article 81 of Regulation 883/2004; long-term care cash benefits, Article 21 and 34). UNCERTAIN:
    # fields follow the title: the claim, the need of care, benefits in kind already received.
    # UNCERTAIN: no public source describes its fields
    "S056": S(F("Claim", [
        F("ClaimDate", D), F("ReceivedBy", I, ex="BE:INAMI"),
        F("CareNeed", T2, ex="Needs help with daily activities since a stroke."), F("CareNeededSince", D, "?"),
        F("CareSetting", E(["at_home", "in_institution"]), "?", ex="at_home"),
        F("LongTermCareBenefitsInKindReceived", B, "?"),
        F("Attachments", DOCS, "?", ex="Medical report on the need of care")])),
    # S057 reply to S056 (S_BUC_15): the decision on the long-term care cash benefit. UNCERTAIN: fields follow the
    # title (a decision: outcome, amount, frequency, start, reason).
    # UNCERTAIN: no public source describes its fields
    "S057": S(F("ClaimReply", [
        F("Outcome", DEC), F("Amount", M, "?"), F("Frequency", FREQUENCY, "?", ex="monthly"), F("From", D, "?"),
        F("Reason", T2, "?", ex="The degree of dependency reached the level required.")])),
})

# ---------------------------------------------------------------------------------------------
# Sickness (S): the bulk reimbursement SEDs of S_BUC_19 (claims on actual costs, CLA), S_BUC_21 (fixed
# amounts, IMO), S_BUC_22 (interest on late payment, ILP) and S_BUC_23 (refund of overpayment, RRO), as the
# EC's forms lay them out [CH-SED]: a global note (the liaison bodies' global references, totals, dates)
# and, where the form has one, the individual part (one item per individual claim, with the creditor and
# debtor institutions). Reference elements keep the form's own wording ("...CreditorLiaisonBody" is the
# reference the creditor's liaison body gave, "...DebtorLiaisonBody" the debtor's). The individual items
# carry the fields the forms show before the published copy breaks off: UNCERTAIN past that point.
# ---------------------------------------------------------------------------------------------


def GLOBAL(section, refs, *fields, items=None):
    """A bulk SED: the global note `section` with the global references `refs` ((element, example)
    pairs, in the form's order) then `fields`; `items`, if given, the individual part after it."""
    note = F(section, [*(F(name, NES, ex=ex) for name, ex in refs), *fields])
    return S(note, persons=[]) if items is None else S(note, items, persons=[])


def ITEMS(name, item, *fields):
    """The individual part of a bulk SED: at least one `item`, each naming the creditor and the
    debtor institution, then `fields`."""
    return F(name, [F(item, [F("CreditorInstitution", I, ex="BE:INAMI"), F("DebtorInstitution", I, ex="NL:UWV"),
                             *fields], "+")])


ILP_REF = ("GlobalILPReferenceCreditorLiaisonBody", "ILP-2026-0002")
CLA_REF = ("GlobalCLAReferenceCreditorLiaisonBody", "CLA-2026-0002")
CRN_REF = ("GlobalCRNReferenceCreditorLiaisonBody", "CRN-2026-0002")
IMO_REF = ("GlobalIMOReferenceCreditorLiaisonBody", "IMO-2026-0001")
CLA_IMO_REF = ("GlobalCLAIMOReferenceCreditorLiaisonBody", "CLA-IMO-2026-0001")
SUBMITTED = F("DateOfSubmission", D)

SPEC.update({
    # S026 ILP: [CH-SED] S026_en.htm (CDM 4.2) and /de/d/16287 (CDM 4.0.16); Article 68 of Regulation (EC)
    # No 987/2009. The individual ILP's references are the form's; its interest amount is UNCERTAIN (the copy
    # breaks off after the references).
    "S026": GLOBAL("GlobalNoteILP", [ILP_REF], F("TotalNumberOfIndividualClaims", N), F("TotalInterestAmount", M),
                   F("BankAccountCreditorLiaisonBody", BANK), SUBMITTED,
                   items=ITEMS("IndividualILPs", "IndividualILP",
                               F("References", [F(ILP_REF[0], NES, ex=ILP_REF[1]), F(CLA_IMO_REF[0], NES, ex=CLA_IMO_REF[1]),
                                                F("IndividualILPNumberCreditorLiaisonBody", NES, ex="ILP-2026-0002-001")]),
                               F("InterestAmount", M))),
    # S027 ACK_ILP: [CH-SED] /de/d/16287 (CDM 4.0.16); Article 68 of Regulation (EC) No 987/2009.
    "S027": GLOBAL("GlobalNoteACKILP", [ILP_REF, ("GlobalACKILPReferenceDebtorLiaisonBody", "ACK-ILP-2026-0002")],
                   F("TotalNumberOfIndividualClaims", N), F("TotalInterestAmount", M), SUBMITTED,
                   F("DateOfReceiptILP", D)),
    # S031 RPY_COC_ILP: [CH-SED] S031-4-1-en.htm (CDM 4.1); Article 68 of Regulation (EC) No 987/2009. That copy
    # shows the reply codes and the fields each asks for, not the field labels: the global references follow
    # the pattern of S034 (UNCERTAIN), the reply code and its conditional fields are the form's.
    "S031": GLOBAL("GlobalNoteRPYCOCILP", [ILP_REF, ("GlobalCOCILPReferenceDebtorLiaisonBody", "COC-ILP-2026-0002"),
                                           ("GlobalRPYCOCILPReferenceCreditorLiaisonBody", "RPY-COC-ILP-2026-0002")],
                   F("TotalNumberOfContestationReplies", N), F("TotalAmountOfAcceptedContestations", M), SUBMITTED,
                   items=ITEMS("IndividualRPYCOCILPs", "IndividualRPYCOCILP",
                               F("IndividualILPNumberCreditorLiaisonBody", NES, ex="ILP-2026-0002-001"),
                               F("ReplyCode", E(["01_contestation_accepted_in_full",
                                                 "02_contestation_partially_accepted_invoice_decreased",
                                                 "03_rectified_corresponding_claim_for_interest",
                                                 "04_initial_claim_not_paid_in_time", "05_initial_claim_not_contested_in_time",
                                                 "06_ilp_submitted_in_time", "99_other"]),
                                 ex="02_contestation_partially_accepted_invoice_decreased"),
                               F("AcceptedAmount", M, "?"),
                               F("RectifiedClaimForInterestNumber", NES, "?", ex="ILP-2026-0002-001R"),
                               F("Date", D, "?"), F("Other", T2, "?"))),
    # S033 COC_CRN_ILP: S034's form [CH-SED] (S034-4-1-en.htm) answers a "COC_CRN_ILP"; the layout is that of
    # DA022C, the same document in AW_BUC ([CH-SED] DA022C_en.htm, CDM 4.2). UNCERTAIN: S033's own form was
    # not found; the twin's layout is assumed.
    "S033": GLOBAL("GlobalNoteCOCCRNILP", [ILP_REF, ("GlobalCRNILPReferenceCreditorLiaisonBody", "CRN-ILP-2026-0002"),
                                           ("GlobalCOCCRNILPReferenceDebtorLiaisonBody", "COC-CRN-ILP-2026-0002")],
                   F("TotalNumberOfCreditNotesContestations", N), F("TotalAmountOfCreditNotesContestations", M), SUBMITTED,
                   items=ITEMS("IndividualCOCCRNILPs", "IndividualCOCCRNILP",
                               F("IndividualCRNILPNumberCreditorLiaisonBody", NES, ex="CRN-ILP-2026-0002-001"),
                               F("ContestedAmount", M),
                               F("ReasonForContestation", T2, ex="The interest was calculated from the wrong due date."))),
    # S034 RPY_COC_CRN_ILP: [CH-SED] S034-4-1-en.htm (CDM 4.1); Article 68 of Regulation (EC) No 987/2009.
    "S034": GLOBAL("GlobalNoteRPYCOCCRNILP", [ILP_REF, ("GlobalCRNILPReferenceCreditorLiaisonBody", "CRN-ILP-2026-0002"),
                                              ("GlobalCOCCRNILPReferenceDebtorLiaisonBody", "COC-CRN-ILP-2026-0002"),
                                              ("GlobalRPYCOCCRNILPReferenceCreditorLiaisonBody", "RPY-COC-CRN-ILP-2026-0002")],
                   F("TotalNumberOfRPYCOCCRNILP", N), F("TotalAmountOfAcceptedCreditNotesContestations", M), SUBMITTED,
                   items=ITEMS("IndividualRPYCOCCRNILPs", "IndividualRPYCOCCRNILP",
                               F("IndividualCRNILPNumberCreditorLiaisonBody", NES, ex="CRN-ILP-2026-0002-001"),
                               F("AcceptedAmount", M))),
    # S051 RRO (request for refund of an overpayment): [CH-SED] S051-4-1-it.htm (CDM 4.1; no legal basis printed).
    # UNCERTAIN: the sender identification's values are not in the copy (read as creditor or debtor).
    "S051": GLOBAL("GlobalNoteRRO", [("GlobalRROReferenceSenderLiaisonBody", "RRO-2026-0001")],
                   F("IdentificationSender", E(["creditor", "debtor"])), F("TotalNumberOfIndividualRRO", N),
                   F("TotalAmountOfIndividualOverpayments", M), F("FinancialYear", NES, "?", ex="2025"), SUBMITTED,
                   items=ITEMS("IndividualRROs", "IndividualRRO",
                               F("References", [F("GlobalRROReferenceSenderLiaisonBody", NES, ex="RRO-2026-0001"),
                                                F("IndividualRRONumberSenderLiaisonBody", NES, ex="RRO-2026-0001-001")]),
                               F("OverpaidAmount", M))),
    # S053R RPY_COC_RRO: [CH-SED] S053R-4-2-fr.htm (CDM 4.2; no legal basis printed).
    "S053R": GLOBAL("GlobalNoteRPYCOCRRO", [("GlobalRROReferenceLiaisonBody", "RRO-2026-0001"),
                                            ("GlobalCOCRROReferenceLiaisonBody", "COC-RRO-2026-0001"),
                                            ("GlobalRPYCOCRROReferenceLiaisonBody", "RPY-COC-RRO-2026-0001")],
                    F("TotalNumberOfIndividualContestationRepliesRRO", N), F("TotalAmountOfAcceptedContestations", M),
                    SUBMITTED,
                    items=ITEMS("IndividualRPYCOCRROs", "IndividualRPYCOCRRO",
                                F("IndividualRRONumberSenderLiaisonBody", NES, ex="RRO-2026-0001-001"),
                                F("AcceptedAmount", M))),
    # S081 ACK_CLA: title [CH-SED] S081-4-2-pt.htm (CDM 4.2); Articles 62, 66(1), 67 of Regulation (EC) No
    # 987/2009. UNCERTAIN: the copy was not readable past the title; the fields follow the acknowledgements whose
    # forms were read (S027, S101, S111: references, totals, date of receipt, date of submission).
    "S081": GLOBAL("GlobalNoteACKCLA", [CLA_REF, ("GlobalACKCLAReferenceDebtorLiaisonBody", "ACK-CLA-2026-0002")],
                   F("TotalNumberOfIndividualClaims", N), F("TotalAmountOfBenefits", M), F("DateOfReceipt", D), SUBMITTED),
    # S087 COC_CRN: [CH-SED] S087-4-1-it.htm (CDM 4.1); Articles 62, 66(1), 67 of Regulation (EC) No 987/2009.
    "S087": GLOBAL("GlobalNoteCOCCRN", [CLA_REF, CRN_REF, ("GlobalCOCCRNReferenceDebtorLiaisonBody", "COC-CRN-2026-0002")],
                   F("TotalNumberOfCreditNotesContestations", N), F("TotalAmountOfCreditNotesContestations", M),
                   F("TotalAmountOfCreditNotes", M), SUBMITTED,
                   items=ITEMS("IndividualCOCCRNs", "IndividualCOCCRN",
                               F("IndividualCRNNumberCreditorLiaisonBody", NES, ex="CRN-2026-0002-001"),
                               F("ContestedAmount", M),
                               F("ReasonForContestation", T2, ex="The credit note leaves out the second invoice."))),
    # S088 RPY_COC_CRN: [CH-SED] S088-4-1-en.htm (CDM 4.1) and S088-4-2-sv.htm (CDM 4.2); Articles 62, 66(1), 67.
    "S088": GLOBAL("GlobalNoteRPYCOCCRN", [CLA_REF, CRN_REF, ("GlobalCOCCRNReferenceDebtorLiaisonBody", "COC-CRN-2026-0002"),
                                           ("GlobalRPYCOCCRNReferenceCreditorLiaisonBody", "RPY-COC-CRN-2026-0002")],
                   F("TotalNumberOfCreditNotesContestationReplies", N),
                   F("TotalAmountOfAcceptedCreditNotesContestations", M), F("TotalAmountOfCreditNotes", M), SUBMITTED,
                   items=ITEMS("IndividualRPYCOCCRNs", "IndividualRPYCOCCRN",
                               F("IndividualCRNNumberCreditorLiaisonBody", NES, ex="CRN-2026-0002-001"),
                               F("AcceptedAmount", M))),
    # S089 IDP: [CH-SED] S089_en.htm (CDM 4.2); Articles 62, 66(1), 67 of Regulation (EC) No 987/2009.
    "S089": GLOBAL("GlobalNoteIDP", [CLA_REF, ("GlobalIDPReferenceDebtorLiaisonBody", "IDP-2026-0002")],
                   F("TotalNumberOfIndividualClaims", N), F("TotalAmountOfBenefits", M), F("TotalAmountOfDownPayment", M),
                   F("DownPaymentPercentageOfTotalAmountOfBenefits", PCT, ex="90"), SUBMITTED),
    # S090 RPY_IDP: [CH-SED] /de/d/16287 (CDM 4.0.16) and S090-4-2-no.htm (CDM 4.2); Articles 62, 66(1), 67.
    # UNCERTAIN: the reply code's values are not in the copies (read as accepted or not accepted).
    "S090": GLOBAL("GlobalNoteRPYIDP", [CLA_REF, ("GlobalIDPReferenceDebtorLiaisonBody", "IDP-2026-0002"),
                                        ("GlobalRPYIDPReferenceCreditorLiaisonBody", "RPY-IDP-2026-0002")],
                   F("TotalNumberOfIndividualClaims", N), F("TotalAmountOfDownPayment", M), F("TotalAmountOfBenefits", M),
                   F("DownPaymentPercentageOfTotalAmountOfBenefits", PCT, ex="90"),
                   F("RPYIDPReplyCode", E(["accepted", "not_accepted"])), SUBMITTED),
    # S091 PAY: [CH-SED] S091_en.htm (CDM 4.2) and /de/d/16287 (CDM 4.0.16); Articles 62, 66(1), 67. The form
    # asks for the total to be paid or the total to be refunded (both optional here: XSD 1.0 cannot say "one
    # of"). UNCERTAIN: the copy breaks off at the overpayment total; the date of submission is assumed.
    "S091": GLOBAL("GlobalNotePAY", [CLA_REF, ("GlobalPAYReferenceDebtorLiaisonBody", "PAY-2026-0002")],
                   F("TotalNumberOfIndividualPayments", N), F("TotalPaymentAmountToBePaid", M, "?"),
                   F("TotalPaymentAmountToBeRefunded", M, "?"), F("TotalAmountOfCreditNotes", M, "?"),
                   F("TotalAmountOfContestations", M, "?"), F("TotalAmountOfBenefits", M), F("TotalAmountOfDownPayment", M),
                   F("TotalAmountOfOverpayment", M, "?"), SUBMITTED),
    # S092 ACK_PAY: [CH-SED] /de/d/16287 (CDM 4.0.16); Articles 62, 66(1), 67 of Regulation (EC) No 987/2009. The
    # form's first reference is labelled "Total CLA Creditor Liaison Body": read as the global CLA reference.
    "S092": GLOBAL("GlobalNoteACKPAY", [CLA_REF, ("GlobalPAYReferenceDebtorLiaisonBody", "PAY-2026-0002"),
                                        ("GlobalACKPAYReferenceCreditorLiaisonBody", "ACK-PAY-2026-0002")],
                   F("TotalPaymentAmount", M), F("DateOfReceiptOfPayment", D), SUBMITTED),
    # S101 ACK_IMO: [CH-SED] S101-4-2-lv.htm and -sl.htm (CDM 4.2); Articles 63 to 67 of Regulation (EC) No 987/2009.
    "S101": GLOBAL("GlobalNoteACKIMO", [IMO_REF, ("GlobalACKIMOReferenceDebtorLiaisonBody", "ACK-IMO-2026-0001")],
                   F("TotalNumberOfIndividualClaims", N), F("TotalNumberOfMonths", N, ex="24"),
                   F("LumpSumLegalCategory", NES, ex="Article 64: family members of an insured person"),
                   F("DateOfReceipt", D), SUBMITTED),
    # S103 ACK_COC_IMO: [CH-SED] S103-4-1-fr.htm (CDM 4.1); Articles 63 to 67 of Regulation (EC) No 987/2009.
    "S103": GLOBAL("GlobalNoteACKCOCIMO", [IMO_REF, ("GlobalCOCIMOReferenceDebtorLiaisonBody", "COC-IMO-2026-0001"),
                                           ("GlobalACKCOCIMOReferenceCreditorLiaisonBody", "ACK-COC-IMO-2026-0001")],
                   F("TotalNumberOfContestations", N), F("DateOfReceipt", D), SUBMITTED),
    # S108 RPY_COC_CRN_IMO: [CH-SED] S108-4-2-it.htm (CDM 4.2); Articles 63 to 67 of Regulation (EC) No 987/2009.
    "S108": GLOBAL("GlobalNoteRPYCOCCRNIMO", [IMO_REF, ("GlobalCRNIMOReferenceCreditorLiaisonBody", "CRN-IMO-2026-0001"),
                                              ("GlobalCOCCRNIMOReferenceDebtorLiaisonBody", "COC-CRN-IMO-2026-0001"),
                                              ("GlobalRPYCOCCRNIMOReferenceCreditorLiaisonBody", "RPY-COC-CRN-IMO-2026-0001")],
                   F("TotalNumberOfCreditNotesContestationsReplies", N), F("TotalNumberOfAcceptedMonthsContested", N),
                   SUBMITTED,
                   items=ITEMS("IndividualRPYCOCCRNIMOs", "IndividualRPYCOCCRNIMO",
                               F("IndividualCRNIMONumberCreditorLiaisonBody", NES, ex="CRN-IMO-2026-0001-001"),
                               F("NumberOfAcceptedMonths", N))),
    # S110 CLA_IMO: [CH-SED] S110-4-1-fr.htm (CDM 4.1) and S110-4-2-no.htm (CDM 4.2); Articles 63 to 67.
    "S110": GLOBAL("GlobalNoteCLAIMO", [IMO_REF, CLA_IMO_REF], F("FinancialYear", NES, ex="2025"),
                   F("LumpSumLegalCategory", NES, ex="Article 64: family members of an insured person"),
                   F("LumpSum", M), F("TotalNumberOfMonths", N, ex="24"), F("TotalAmountOfClaim", M),
                   F("BankAccountCreditorLiaisonBody", BANK), SUBMITTED),
    # S111 ACK_CLA_IMO: [CH-SED] S111-4-1-fr.htm (CDM 4.1) and S111-4-2-sl.htm (CDM 4.2); Articles 63 to 67.
    "S111": GLOBAL("GlobalNoteACKCLAIMO", [IMO_REF, CLA_IMO_REF,
                                           ("GlobalACKCLAIMOReferenceDebtorLiaisonBody", "ACK-CLA-IMO-2026-0001")],
                   F("LumpSumLegalCategory", NES, ex="Article 64: family members of an insured person"),
                   F("LumpSum", M), F("TotalNumberOfMonths", N, ex="24"), F("TotalAmountOfClaim", M),
                   F("DateOfReceipt", D), SUBMITTED),
    # S112 COC_CLA_IMO: [CH-SED] S112-4-2-sl.htm (CDM 4.2); Articles 63 to 67 of Regulation (EC) No 987/2009.
    # UNCERTAIN: the refusal code's values are not in the copy (read as the grounds a lump-sum claim is refused on).
    "S112": GLOBAL("GlobalNoteCOCCLAIMO", [IMO_REF, CLA_IMO_REF,
                                           ("GlobalCOCCLAIMOReferenceDebtorLiaisonBody", "COC-CLA-IMO-2026-0001")],
                   F("ContestationRefusalCode", [F("RefusalCodeCLAIMO", E(["wrong_lump_sum", "wrong_number_of_months",
                                                                           "claim_submitted_late", "other"]))]),
                   F("CorrectedLumpSum", M, "?"), SUBMITTED),
    # S113 RPY_COC_CLA_IMO: [CH-SED] S113-4-1-en.htm (CDM 4.1) and S113-4-2-sl.htm (CDM 4.2); Articles 63 to 67.
    # The form names reply code 02 "we do not accept contestation"; 01 read as its opposite.
    "S113": GLOBAL("GlobalNoteRPYCOCCLAIMO", [IMO_REF, CLA_IMO_REF,
                                              ("GlobalCOCCLAIMOReferenceDebtorLiaisonBody", "COC-CLA-IMO-2026-0001"),
                                              ("GlobalRPYCOCCLAIMOReferenceCreditorLiaisonBody", "RPY-COC-CLA-IMO-2026-0001")],
                   F("ReplyCode", E(["01_contestation_accepted", "02_contestation_not_accepted"]),
                     ex="02_contestation_not_accepted"),
                   F("ReasonOfNonAcceptance", T2, "?", ex="The months contested are confirmed by the registration."),
                   SUBMITTED),
    # S115 RPY_IDP_IMO: [CH-SED] S115-4-2-no.htm (CDM 4.2); Articles 63 to 67 of Regulation (EC) No 987/2009.
    # UNCERTAIN: the reply code's values are not in the copy (read as accepted or not accepted, as S090's).
    "S115": GLOBAL("GlobalNoteRPYIDPIMO", [IMO_REF, CLA_IMO_REF, ("GlobalIDPIMOReferenceDebtorLiaisonBody", "IDP-IMO-2026-0001"),
                                           ("GlobalRPYIDPIMOReferenceCreditorLiaisonBody", "RPY-IDP-IMO-2026-0001")],
                   F("TotalAmountOfClaim", M), F("DownPaymentAmount", M), F("DownPaymentPercentage", PCT, ex="90"),
                   F("BankAccount", BANK), F("ReplyCode", E(["accepted", "not_accepted"])), SUBMITTED),
    # S117 ACK_PAY_IMO: [CH-SED] /de/d/16287 (CDM 4.0.16); Articles 63 to 67 of Regulation (EC) No 987/2009.
    "S117": GLOBAL("GlobalNoteACKPAYIMO", [IMO_REF, ("GlobalPAYIMOReferenceDebtorLiaisonBody", "PAY-IMO-2026-0001"),
                                           ("GlobalACKPAYIMOReferenceDebtorLiaisonBody", "ACK-PAY-IMO-2026-0001")],
                   F("TotalPaymentAmountToBePaidByDebtor", M, "?"), F("DateOfReceiptPaymentByCreditor", D), SUBMITTED),
})

# ---------------------------------------------------------------------------------------------
# Bulk (master/child) documents [RINA-TS §5.3]: each master SED carries its sub-documents, one item per
# individual claim, after its global note; buc-definitions/seds.toml names where (`children`, the path
# the engine counts: a master goes with at least one, unless its BUC sets `without_bulk`, [RINA-TS §5.10]).
# The individual part follows the EC's forms where a copy shows it (S026, U020: kept above); elsewhere
# it mirrors the global note item by item, as the forms of the same family do (S031, S087, S088, S108:
# the individual number the creditor's liaison body gave, then the amount the note totals), UNCERTAIN
# past that. The claims for reimbursement (DA010, S080) and the inventory of months (S100) name the
# person of each individual claim, as the EC's E125/E127 forms (their paper predecessors) did.
# ---------------------------------------------------------------------------------------------
CLAIM_NUMBER = F("IndividualClaimNumberCreditorLiaisonBody", NES, ex="CLA-2026-0001-001")
BULK_ITEMS = {
    "DA010": ITEMS("IndividualClaims", "IndividualClaim", CLAIM_NUMBER, F("InsuredPerson", PER),
                   F("TreatmentPeriod", P), F("AmountOfBenefits", M)),
    "DA012": ITEMS("IndividualCreditNotes", "IndividualCreditNote",
                   F("IndividualCRNNumberCreditorLiaisonBody", NES, ex="CRN-2026-0001-001"), CLAIM_NUMBER,
                   F("CreditedAmount", M)),
    "DA012C": ITEMS("IndividualCreditNoteContestations", "IndividualCreditNoteContestation",
                    F("IndividualCRNNumberCreditorLiaisonBody", NES, ex="CRN-2026-0001-001"), F("ContestedAmount", M),
                    F("ReasonForContestation", T2, ex="The credit note leaves out the second invoice.")),
    "DA012R": ITEMS("IndividualContestationReplies", "IndividualContestationReply",
                    F("IndividualCRNNumberCreditorLiaisonBody", NES, ex="CRN-2026-0001-001"), F("Outcome", DEC),
                    F("AcceptedAmount", M, "?")),
    "DA018": ITEMS("IndividualPayments", "IndividualPayment", CLAIM_NUMBER, F("PaidAmount", M)),
    "DA020": ITEMS("IndividualInterestClaims", "IndividualInterestClaim",
                   F("IndividualILPNumberCreditorLiaisonBody", NES, ex="ILP-2026-0001-001"), CLAIM_NUMBER,
                   F("InterestAmount", M)),
    "DA022": ITEMS("IndividualInterestCreditNotes", "IndividualInterestCreditNote",
                   F("IndividualCRNILPNumberCreditorLiaisonBody", NES, ex="CRN-ILP-2026-0001-001"),
                   F("IndividualILPNumberCreditorLiaisonBody", NES, ex="ILP-2026-0001-001"), F("CreditedAmount", M)),
    "DA026": ITEMS("IndividualInterestPayments", "IndividualInterestPayment",
                   F("IndividualILPNumberCreditorLiaisonBody", NES, ex="ILP-2026-0001-001"), F("PaidAmount", M)),
    "DA073A": ITEMS("IndividualAcceptances", "IndividualAcceptance",
                    F("IndividualIONumberSenderLiaisonBody", NES, ex="IO-2026-0001-001"), F("AcceptedAmount", M)),
    "DA074": ITEMS("IndividualRefunds", "IndividualRefund",
                   F("IndividualIONumberSenderLiaisonBody", NES, ex="IO-2026-0001-001"), F("RefundAmount", M)),
    "S028": ITEMS("IndividualCRNILPs", "IndividualCRNILP",
                  F("IndividualCRNILPNumberCreditorLiaisonBody", NES, ex="CRN-ILP-2026-0002-001"),
                  F("IndividualILPNumberCreditorLiaisonBody", NES, ex="ILP-2026-0002-001"), F("CreditedAmount", M)),
    "S032": ITEMS("IndividualPAYILPs", "IndividualPAYILP",
                  F("IndividualILPNumberCreditorLiaisonBody", NES, ex="ILP-2026-0002-001"), F("PaidAmount", M)),
    "S054": ITEMS("IndividualIROs", "IndividualIRO",
                  F("IndividualRRONumberSenderLiaisonBody", NES, ex="RRO-2026-0001-001"), F("RefundAmount", M)),
    "S085": ITEMS("IndividualCRNs", "IndividualCRN",
                  F("IndividualCRNNumberCreditorLiaisonBody", NES, ex="CRN-2026-0002-001"),
                  F("IndividualCLANumberCreditorLiaisonBody", NES, ex="CLA-2026-0002-001"), F("CreditedAmount", M)),
    "S091": ITEMS("IndividualPAYs", "IndividualPAY",
                  F("IndividualCLANumberCreditorLiaisonBody", NES, ex="CLA-2026-0002-001"), F("PaymentAmount", M)),
    "S105": ITEMS("IndividualIMOs", "IndividualIMO",
                  F("IndividualIMONumberCreditorLiaisonBody", NES, ex="IMO-2026-0001-001"), F("NumberOfMonths", N, ex="12")),
}
for _sed, _items in BULK_ITEMS.items():
    SPEC[_sed]["sections"].append(_items)

SPEC.update({
    # S080 CLA (claim for reimbursement on actual costs, Articles 62, 66(1) and 67 of Regulation (EC) No
    # 987/2009): the global note as its acknowledgement S081 and the other CLA-family notes lay it out
    # [CH-SED] (S081, S087, S089: the global CLA reference, totals, bank account, submission date); one
    # IndividualCLA per person treated. UNCERTAIN: S080's own form was not found.
    "S080": GLOBAL("GlobalNoteCLA", [CLA_REF], F("FinancialYear", NES, ex="2025"), F("TotalNumberOfIndividualClaims", N),
                   F("TotalAmountOfBenefits", M), F("BankAccountCreditorLiaisonBody", BANK), SUBMITTED,
                   items=ITEMS("IndividualCLAs", "IndividualCLA",
                               F("IndividualCLANumberCreditorLiaisonBody", NES, ex="CLA-2026-0002-001"),
                               F("InsuredPerson", PER), F("TreatmentPeriod", P), F("AmountOfBenefits", M))),
    # S100 IMO (inventory of months for fixed amounts, Articles 63 to 67 of Regulation (EC) No 987/2009):
    # laid out as its acknowledgement S101 [CH-SED] (S101-4-2-lv.htm: the global IMO reference, totals of
    # claims and months, the lump-sum category); one IndividualIMO per person. UNCERTAIN: S100's own form
    # was not found.
    "S100": GLOBAL("GlobalNoteIMO", [IMO_REF], F("FinancialYear", NES, ex="2025"),
                   F("LumpSumLegalCategory", NES, ex="Article 64: family members of an insured person"),
                   F("TotalNumberOfIndividualClaims", N), F("TotalNumberOfMonths", N, ex="24"), SUBMITTED,
                   items=ITEMS("IndividualIMOs", "IndividualIMO",
                               F("IndividualIMONumberCreditorLiaisonBody", NES, ex="IMO-2026-0001-001"),
                               F("InsuredPerson", PER), F("Period", P), F("NumberOfMonths", N, ex="12"))),
    # S116 PAY_IMO (payment of fixed amounts): laid out as its acknowledgement S117 and the CLA payment S091
    # [CH-SED]. UNCERTAIN: S116's own form was not found.
    "S116": GLOBAL("GlobalNotePAYIMO", [IMO_REF, ("GlobalPAYIMOReferenceDebtorLiaisonBody", "PAY-IMO-2026-0001")],
                   F("TotalNumberOfIndividualPayments", N), F("TotalPaymentAmountToBePaidByDebtor", M), SUBMITTED,
                   items=ITEMS("IndividualPAYIMOs", "IndividualPAYIMO",
                               F("IndividualIMONumberCreditorLiaisonBody", NES, ex="IMO-2026-0001-001"),
                               F("PaymentAmount", M))),
    # S053A ACP_RRO (acceptance of a request for refund of overpayment): title [BSV] S053A_en.htm; laid out as
    # the request S051 and the reply S053R [CH-SED]. UNCERTAIN: the copy was not readable past the title.
    "S053A": GLOBAL("GlobalNoteACPRRO", [("GlobalRROReferenceSenderLiaisonBody", "RRO-2026-0001"),
                                         ("GlobalACPRROReferenceLiaisonBody", "ACP-RRO-2026-0001")],
                    F("TotalNumberOfAcceptances", N), F("TotalAcceptedAmount", M), SUBMITTED,
                    items=ITEMS("IndividualACPRROs", "IndividualACPRRO",
                                F("IndividualRRONumberSenderLiaisonBody", NES, ex="RRO-2026-0001-001"),
                                F("AcceptedAmount", M))),
})


# The bulk SEDs of S_BUC_19, 21, 22 and 23 that are not master documents, modelled like those above.
COC_REF = ("GlobalCOCReferenceDebtorLiaisonBody", "COC-2026-0002")
COC_IMO_REF = ("GlobalCOCIMOReferenceDebtorLiaisonBody", "COC-IMO-2026-0001")
RRO_REF = ("GlobalRROReferenceLiaisonBody", "RRO-2026-0001")

SPEC.update({
    # S030 COC_ILP (contestation of a claim for interest on late payment), answered by S031: Article 68 of
    # Regulation (EC) No 987/2009. Its reply S031 [CH-SED] S031-4-1-en.htm names the contested ILP and answers
    # each individual contestation; S031's reply codes say what a contestation can argue (initial claim paid in
    # time, contested in time, ILP not submitted in time, wrong calculation). UNCERTAIN: S030's own form was not
    # found; the layout is that of the other contestations (S033, DA022C) and the reasons mirror S031's codes.
    "S030": GLOBAL("GlobalNoteCOCILP", [ILP_REF, ("GlobalCOCILPReferenceDebtorLiaisonBody", "COC-ILP-2026-0002")],
                   F("TotalNumberOfContestations", N), F("TotalAmountOfContestations", M), SUBMITTED,
                   items=ITEMS("IndividualCOCILPs", "IndividualCOCILP",
                               F("IndividualILPNumberCreditorLiaisonBody", NES, ex="ILP-2026-0002-001"),
                               F("ContestedAmount", M),
                               F("ReasonForContestation", E(["initial_claim_paid_in_time", "initial_claim_contested_in_time",
                                                             "ilp_not_submitted_in_time", "wrong_calculation", "other"]),
                                 ex="initial_claim_paid_in_time"),
                               F("Date", D, "?"), F("Other", T2, "?"))),
    # S082 COC (contestation of the individual claims of a CLA), S083 ACK_COC (its acknowledgement), S084 RPY_COC
    # (the reply): S_BUC_19, Articles 62, 66(1), 67 of Regulation (EC) No 987/2009. Their AW twins DA016, DA016A,
    # DA017: [DA016A-G] describes the acknowledgement (the global CLA, COC and ACK_COC references, the total
    # number of contestations and their total amount copied from the contestation, the date of receipt and of
    # submission; no individual part). UNCERTAIN: the S forms were not found; S082 and S084 follow the layout of
    # S087 / S088 (contestation and reply on a credit note) [CH-SED].
    "S082": GLOBAL("GlobalNoteCOC", [CLA_REF, COC_REF],
                   F("TotalNumberOfContestations", N), F("TotalAmountOfContestations", M), F("TotalAmountOfBenefits", M),
                   SUBMITTED,
                   items=ITEMS("IndividualCOCs", "IndividualCOC",
                               F("IndividualClaimNumberCreditorLiaisonBody", NES, ex="CLA-2026-0002-001"),
                               F("ContestedAmount", M),
                               F("ReasonForContestation", T2, ex="The person was not insured with us on the treatment dates."))),
    "S083": GLOBAL("GlobalNoteACKCOC", [CLA_REF, COC_REF, ("GlobalACKCOCReferenceCreditorLiaisonBody", "ACK-COC-2026-0002")],
                   F("TotalNumberOfContestations", N), F("TotalAmountOfContestations", M), F("DateOfReceipt", D),
                   SUBMITTED),
    "S084": GLOBAL("GlobalNoteRPYCOC", [CLA_REF, COC_REF, ("GlobalRPYCOCReferenceCreditorLiaisonBody", "RPY-COC-2026-0002")],
                   F("TotalNumberOfContestationReplies", N), F("TotalAmountOfAcceptedContestations", M), SUBMITTED,
                   items=ITEMS("IndividualRPYCOCs", "IndividualRPYCOC",
                               F("IndividualClaimNumberCreditorLiaisonBody", NES, ex="CLA-2026-0002-001"),
                               F("Outcome", DEC, ex="partially_granted"), F("AcceptedAmount", M),
                               F("Reason", T2, "?", ex="The second invoice is withdrawn."))),
    # S102 COC_IMO (contestation of the inventory of months), answered by S103 ACK_COC_IMO and S104 RPY_COC_IMO:
    # S_BUC_21, Articles 63 to 67 of Regulation (EC) No 987/2009. S103 [CH-SED] S103-4-1-fr.htm copies S102's
    # global IMO and COC_IMO references and its total number of contestations. UNCERTAIN: S102's and S104's own
    # forms were not found; their individual parts follow S108 (reply on a contested credit note of fixed amounts:
    # accepted months per individual item) [CH-SED].
    "S102": GLOBAL("GlobalNoteCOCIMO", [IMO_REF, COC_IMO_REF], F("TotalNumberOfContestations", N),
                   F("TotalNumberOfMonthsContested", N, ex="6"), SUBMITTED,
                   items=ITEMS("IndividualCOCIMOs", "IndividualCOCIMO",
                               F("IndividualIMONumberCreditorLiaisonBody", NES, ex="IMO-2026-0001-001"),
                               F("NumberOfMonthsContested", N, ex="3"),
                               F("ReasonForContestation", T2, ex="The person was registered with us only from March."))),
    "S104": GLOBAL("GlobalNoteRPYCOCIMO", [IMO_REF, COC_IMO_REF,
                                           ("GlobalRPYCOCIMOReferenceCreditorLiaisonBody", "RPY-COC-IMO-2026-0001")],
                   F("TotalNumberOfContestationReplies", N), F("TotalNumberOfAcceptedMonthsContested", N, ex="3"), SUBMITTED,
                   items=ITEMS("IndividualRPYCOCIMOs", "IndividualRPYCOCIMO",
                               F("IndividualIMONumberCreditorLiaisonBody", NES, ex="IMO-2026-0001-001"),
                               F("NumberOfAcceptedMonths", N, ex="3"), F("Reason", T2, "?"))),
    # S107 COC_CRN_IMO (contestation of a credit note on fixed amounts), answered by S108: S_BUC_21, Articles 63
    # to 67 of Regulation (EC) No 987/2009. S108 [CH-SED] S108-4-2-it.htm names the global IMO, CRN_IMO and
    # COC_CRN_IMO references and answers each individual CRN_IMO with a number of accepted months. UNCERTAIN:
    # S107's own form was not found; it mirrors S108.
    "S107": GLOBAL("GlobalNoteCOCCRNIMO", [IMO_REF, ("GlobalCRNIMOReferenceCreditorLiaisonBody", "CRN-IMO-2026-0001"),
                                           ("GlobalCOCCRNIMOReferenceDebtorLiaisonBody", "COC-CRN-IMO-2026-0001")],
                   F("TotalNumberOfCreditNotesContestations", N), F("TotalNumberOfMonthsContested", N, ex="4"), SUBMITTED,
                   items=ITEMS("IndividualCOCCRNIMOs", "IndividualCOCCRNIMO",
                               F("IndividualCRNIMONumberCreditorLiaisonBody", NES, ex="CRN-IMO-2026-0001-001"),
                               F("NumberOfMonthsContested", N, ex="2"),
                               F("ReasonForContestation", T2, ex="The credit note leaves out two months of the inventory."))),
    # S114 IDP_IMO (information on the down payment of fixed amounts), answered by S115: [CH-SED] S114-4-1-it.htm,
    # S114-4-1-fr.htm (CDM 4.1) and S114-4-2-fr.htm (CDM 4.2); Articles 63 to 67 of Regulation (EC) No 987/2009:
    # the global IMO, CLA_IMO and IDP_IMO references, the total number of months, the lump sum, the total amount
    # of the claim, the down payment percentage and amount, the date of submission.
    "S114": GLOBAL("GlobalNoteIDPCLAIMO", [IMO_REF, CLA_IMO_REF, ("GlobalIDPIMOReferenceDebtorLiaisonBody", "IDP-IMO-2026-0001")],
                   F("TotalNumberOfMonths", N, ex="24"), F("LumpSum", M), F("TotalAmountOfClaim", M),
                   F("DownPaymentPercentage", PCT, ex="90"), F("DownPaymentAmount", M), SUBMITTED),
    # S053C COC_RRO (contestation of a request for refund of an overpayment), answered by S053R: S_BUC_23. S053R
    # [CH-SED] S053R-4-2-fr.htm names the global RRO and COC_RRO references and answers each individual
    # contestation. UNCERTAIN: S053C's own form was not found; it mirrors S053R and DA073C.
    "S053C": GLOBAL("GlobalNoteCOCRRO", [RRO_REF, ("GlobalCOCRROReferenceLiaisonBody", "COC-RRO-2026-0001")],
                    F("TotalNumberOfIndividualContestationsRRO", N), F("TotalAmountOfContestations", M), SUBMITTED,
                    items=ITEMS("IndividualCOCRROs", "IndividualCOCRRO",
                                F("IndividualRRONumberSenderLiaisonBody", NES, ex="RRO-2026-0001-001"),
                                F("ContestedAmount", M),
                                F("ReasonForContestation", T2, ex="The benefit was due for the whole period."))),
})

# Negative examples: (file name, SED, text to replace, replacement, why). Each takes the SED's valid
# fixture and breaks one shared type added for the catalogue.
NEGATIVES = [
    ("X005-bad-institution-id.xml", "X005", "<sed:InstitutionID>DE:DRV</sed:InstitutionID>",
     "<sed:InstitutionID>DE-DRV</sed:InstitutionID>", "InstitutionID DE-DRV has no colon (InstitutionIdType)."),
    ("X008-bad-document-id.xml", "X008", "<sed:DocumentID>3f2a9c4e8b1d4f6a9e7c2b5d8a0f1e3c</sed:DocumentID>",
     "<sed:DocumentID>3F2A9C4E8B1D4F6A9E7C2B5D8A0F1E3</sed:DocumentID>",
     "DocumentID is upper-case and 31 digits long (DocumentIdType)."),
    ("X008-bad-sed-type.xml", "X008", "<sed:InvalidatedSed>P8000</sed:InvalidatedSed>",
     "<sed:InvalidatedSed>p8000</sed:InvalidatedSed>", "InvalidatedSed p8000 is lower-case (SedTypeCodeType)."),
    ("H020-bad-currency.xml", "H020", 'currency="EUR"', 'currency="euro"', "currency euro is not an ISO 4217 code (CurrencyCodeType)."),
    ("H020-negative-amount.xml", "H020", '<sed:Amount currency="EUR">812.40</sed:Amount>',
     '<sed:Amount currency="EUR">-812.40</sed:Amount>', "the invoice Amount is negative (AmountType)."),
    ("H020-bad-iban.xml", "H020", "<sed:IBAN>BE71096123456769</sed:IBAN>", "<sed:IBAN>BE71 0961 2345 6769</sed:IBAN>",
     "the IBAN holds spaces (IBANType)."),
    ("H020-bad-bic.xml", "H020", "<sed:BIC>EXAMBEBB</sed:BIC>", "<sed:BIC>EXAM</sed:BIC>", "BIC EXAM is too short (BICType)."),
    ("DA060-percentage-over-100.xml", "DA060", "<sed:DegreePercentage>35</sed:DegreePercentage>",
     "<sed:DegreePercentage>135</sed:DegreePercentage>", "DegreePercentage 135 is over 100 (PercentageType)."),
    ("P6000-bad-outcome.xml", "P6000", "<sed:Outcome>granted</sed:Outcome>", "<sed:Outcome>approved</sed:Outcome>",
     "Outcome approved is not a decision outcome (DecisionOutcomeType)."),
    ("P9000-bad-reply-outcome.xml", "P9000", "<sed:Outcome>positive</sed:Outcome>", "<sed:Outcome>yes</sed:Outcome>",
     "Outcome yes is not a reply outcome (ReplyOutcomeType)."),
    ("P5000-bad-period-kind.xml", "P5000", "<sed:Kind>employment</sed:Kind>", "<sed:Kind>work</sed:Kind>",
     "Kind work is not an insurance period kind (InsurancePeriodKindType)."),
    ("X011-missing-document-id.xml", "X011", "      <sed:DocumentID>3f2a9c4e8b1d4f6a9e7c2b5d8a0f1e3c</sed:DocumentID>\n", "",
     "RejectedDocument has no DocumentID (ReferencedDocumentType)."),
    ("X100-missing-new-institution.xml", "X100", None, None,
     "ParticipantChange has no NewInstitution: the subject path of AD_BUC_12 is missing."),
]

# ---------------------------------------------------------------------------------------------
# Fixture data: fictitious persons and institutions, and default values per simple type.
# ---------------------------------------------------------------------------------------------

PERSONS = [  # family name, forename, birth date, sex, Belgian number (fictitious), town, postal code
    ("Verhoeven", "Lotte", "1985-07-31", "female", "85073100229", "Gent", "9000"),
    ("Janssens", "Pieter", "1990-03-14", "male", "90031412310", "Leuven", "3000"),
    ("Schmitz", "Jonas", "1978-11-05", "male", "78110500508", "Eupen", "4700"),
    ("Dubois", "Camille", "1958-02-20", "female", "58022012834", "Namur", "5000"),
    ("Peeters", "Marc", "1961-09-09", "male", "61090914571", "Hasselt", "3500"),
]
OTHERS = {  # second persons: child, spouse, claimant
    "Child": ("Verhoeven", "Noor", "2016-04-12", "female", "16041200286", "Gent", "9000"),
    "Spouse": ("Martin", "Claire", "1960-05-03", "female", "60050312246", "Namur", "5000"),
    "Claimant": ("Dubois", "Henri", "1957-12-01", "male", "57120115391", "Namur", "5000"),
    "MainInsuredPerson": ("Martin", "Claire", "1960-05-03", "female", "60050312246", "Namur", "5000"),
}
SECTOR_INSTITUTIONS = {  # our side, their side
    "LA": ("BE:ONSS", "NL:SVB"), "P": ("BE:SFP", "NL:SVB"), "FB": ("BE:OPGROEIEN", "NL:SVB"), "H": ("BE:INAMI", "NL:SVB"),
    "S": ("BE:INAMI", "NL:UWV"), "AW": ("BE:FEDRIS", "NL:UWV"), "UB": ("BE:ONEM", "NL:UWV"), "R": ("BE:ONSS", "DE:DRV"),
    "M": ("BE:SFP", "NL:SVB"), "AD": ("BE:SFP", "NL:SVB"),
}
INSTITUTION_NAMES = {
    "BE:ONSS": "Office national de sécurité sociale", "BE:SFP": "Service fédéral des Pensions",
    "BE:OPGROEIEN": "Opgroeien regie", "BE:FEDRIS": "Fedris", "BE:INAMI": "Institut national d'assurance maladie-invalidité",
    "BE:ONEM": "Office national de l'emploi", "NL:SVB": "Sociale Verzekeringsbank", "NL:UWV": "Uitvoeringsinstituut Werknemersverzekeringen",
    "DE:DRV": "Deutsche Rentenversicherung", "NL:GAK": "Gemeenschappelijk Administratiekantoor (former)",
}
DEFAULTS = {
    "NonEmptyString": "Example", "Text2000Type": "Fictitious example text.", "Text4000Type": "Fictitious example text.",
    "DateType": "2026-03-16", "CountryCodeType": "NL", "xs:boolean": "false", "xs:nonNegativeInteger": "2",
    "PercentageType": "35", "AmountType": "812.40", "SedTypeCodeType": "P8000",
    "DocumentIdType": "3f2a9c4e8b1d4f6a9e7c2b5d8a0f1e3c", "ReplyOutcomeType": "positive",
    "DecisionOutcomeType": "granted", "ArticleType": "13_1_a", "InstitutionIdType": "NL:SVB",
    "EntitlementStatusType": "insured_person",
}

# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

OCCURS = {"1": "", "?": ' minOccurs="0"', "*": ' minOccurs="0" maxOccurs="unbounded"', "+": ' maxOccurs="unbounded"'}


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def xsd_for(sed, title, spec, version):
    local = []  # extra type definitions

    def type_ref(prefix, name, typ):
        if isinstance(typ, E):
            tname = f"{prefix}{name}Type"
            body = "\n".join(f'      <xs:enumeration value="{v}"/>' for v in typ.values)
            local.append(f'  <xs:simpleType name="{tname}">\n    <xs:restriction base="xs:string">\n{body}\n'
                         f'    </xs:restriction>\n  </xs:simpleType>')
            return tname
        if isinstance(typ, list):
            tname = f"{prefix}{name}Type"
            idx = len(local)
            local.append(None)  # keep parents before children
            rows = [f'      <xs:element name="{n}" type="{type_ref(prefix + name, n, t)}"{OCCURS[o]}/>' for n, t, o, _ in typ]
            local[idx] = f'  <xs:complexType name="{tname}">\n    <xs:sequence>\n' + "\n".join(rows) + \
                "\n    </xs:sequence>\n  </xs:complexType>"
            return tname
        return typ

    persons = INSURED if spec["persons"] is None else spec["persons"]
    rows = []
    for n, t, o, _ in persons + spec["sections"]:
        rows.append(f'        <xs:element name="{n}" type="{type_ref(sed, n, t)}"{OCCURS[o]}/>')
    rows.append('        <xs:element name="LocalCaseNumbers" type="LocalCaseNumbersType" minOccurs="0"/>')
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<!-- GENERATED by sed-schemas/generate.py from its SPEC table: edit the table and re-run, do not edit this file. -->
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns="{ns(version)}"
           targetNamespace="{ns(version)}"
           elementFormDefault="qualified"
           attributeFormDefault="unqualified"
           version="{version}">

  <xs:annotation>
    <xs:documentation xml:lang="en">
      SED {sed}, data-model version {version} (sedGVer {SED_GVER}, sedVer {VERSIONS[version]}): {xml_escape(title)}.
      The element names are this project's own rendering of the SED content, written for
      the EESSI message switch: the European Commission's SED schema package is not public,
      so this schema is not the official one. Shared types come from common.xsd.{same_as_base(version)}
    </xs:documentation>
  </xs:annotation>

  <xs:include schemaLocation="common.xsd"/>

  <xs:element name="{sed}">
    <xs:complexType>
      <xs:sequence>
{chr(10).join(rows)}
      </xs:sequence>
      <xs:attributeGroup ref="SedRootAttributes"/>
    </xs:complexType>
  </xs:element>
''' + "".join("\n" + t + "\n" for t in local) + "\n</xs:schema>\n"


class Fixture:
    def __init__(self, sed, sector, n, version):
        self.sed, self.sector, self.n, self.version = sed, sector, n, version
        self.ours, self.theirs = SECTOR_INSTITUTIONS[sector]
        self.lines = []

    def el(self, depth, name, text=None, attrs=""):
        pad = "  " * depth
        if text is None:
            self.lines.append(f"{pad}<sed:{name}{attrs}/>")
        else:
            self.lines.append(f"{pad}<sed:{name}{attrs}>{xml_escape(text)}</sed:{name}>")

    def open(self, depth, name):
        self.lines.append(f"{'  ' * depth}<sed:{name}>")

    def close(self, depth, name):
        self.lines.append(f"{'  ' * depth}</sed:{name}>")

    def institution(self, d, name, iid):
        self.open(d, name)
        self.el(d + 1, "InstitutionID", iid)
        self.el(d + 1, "InstitutionName", INSTITUTION_NAMES.get(iid, "Fictitious institution"))
        self.close(d, name)

    def pin(self, d, name, person):
        self.open(d, name)
        self.el(d + 1, "Country", "BE")
        self.el(d + 1, "PersonalIdentificationNumber", person[4])
        self.el(d + 1, "Sector", "all")
        self.close(d, name)

    def person(self, d, name, p):
        self.open(d, name)
        self.open(d + 1, "PersonIdentification")
        self.el(d + 2, "FamilyName", p[0])
        self.el(d + 2, "Forename", p[1])
        self.el(d + 2, "DateBirth", p[2])
        self.el(d + 2, "Sex", p[3])
        self.open(d + 2, "PINPersonInEachInstitution")
        self.pin(d + 3, "PersonalIdentificationNumber", p)
        self.close(d + 2, "PINPersonInEachInstitution")
        self.close(d + 1, "PersonIdentification")
        self.open(d + 1, "AdditionalInformationAboutNationality")
        self.open(d + 2, "Nationalities")
        self.open(d + 3, "Nationality")
        self.el(d + 4, "Country", "BE")
        self.close(d + 3, "Nationality")
        self.close(d + 2, "Nationalities")
        self.close(d + 1, "AdditionalInformationAboutNationality")
        self.open(d + 1, "Address")
        self.el(d + 2, "Type", "residence")
        self.el(d + 2, "Street", "Voorbeeldlaan 1")
        self.el(d + 2, "Town", p[5])
        self.el(d + 2, "PostalCode", p[6])
        self.el(d + 2, "Country", "BE")
        self.close(d + 1, "Address")
        self.close(d, name)

    def context_person(self, d, name, p):
        self.open(d, name)
        self.el(d + 1, "FamilyName", p[0])
        self.el(d + 1, "Forename", p[1])
        self.el(d + 1, "DateBirth", p[2])
        self.open(d + 1, "PINPersonInEachInstitution")
        self.pin(d + 2, "PersonalIdentificationNumber", p)
        self.close(d + 1, "PINPersonInEachInstitution")
        self.close(d, name)

    def period(self, d, name):
        self.open(d, name)
        self.el(d + 1, "StartDate", "2026-01-01")
        self.el(d + 1, "EndDate", "2026-06-30")
        self.close(d, name)

    def value(self, d, name, typ, ex):
        p = PERSONS[self.n % len(PERSONS)]
        if isinstance(typ, E):
            self.el(d, name, ex or typ.values[0])
        elif isinstance(typ, list):
            self.open(d, name)
            for n, t, o, e in typ:
                self.value(d + 1, n, t, e)
            self.close(d, name)
        elif typ == "PersonType":
            self.person(d, name, OTHERS.get(name, p))
        elif typ == "ContextPersonType":
            self.context_person(d, name, p)
        elif typ in ("PeriodType", "FixedPeriodType"):
            self.period(d, name)
        elif typ == "InstitutionType":
            self.institution(d, name, ex or self.theirs)
        elif typ == "MoneyType":
            self.el(d, name, ex or DEFAULTS["AmountType"], ' currency="EUR"')
        elif typ == "BankAccountType":
            self.open(d, name)
            self.el(d + 1, "AccountHolder", f"{p[1]} {p[0]}")
            self.el(d + 1, "IBAN", "BE71096123456769")
            self.el(d + 1, "BIC", "EXAMBEBB")
            self.close(d, name)
        elif typ == "DocumentListType":
            self.open(d, name)
            self.el(d + 1, "Document", ex or "Statement of employment periods")
            self.close(d, name)
        elif typ == "ReferencedDocumentType":
            self.open(d, name)
            self.el(d + 1, "SedType", "P8000")
            self.el(d + 1, "DocumentID", DEFAULTS["DocumentIdType"])
            self.el(d + 1, "DateIssued", "2026-02-10")
            self.close(d, name)
        elif typ == "InformationRequestType":
            self.open(d, name)
            self.el(d + 1, "Subject", ex or "Information")
            self.el(d + 1, "Question", "Please send the information and documents listed below.")
            self.open(d + 1, "RequestedDocuments")
            self.el(d + 2, "Document", "Statement of insurance periods")
            self.close(d + 1, "RequestedDocuments")
            self.el(d + 1, "ReplyBefore", "2026-05-29")
            self.close(d, name)
        elif typ == "InformationReplyType":
            self.open(d, name)
            self.el(d + 1, "Outcome", "positive")
            self.el(d + 1, "Text", "The requested information is given below and in the attached statement.")
            self.open(d + 1, "ProvidedDocuments")
            self.el(d + 2, "Document", "Statement of insurance periods")
            self.close(d + 1, "ProvidedDocuments")
            self.close(d, name)
        elif typ == "InsurancePeriodsType":
            self.open(d, name)
            for kind, country, start, end, inst in [("employment", "BE", "1998-09-01", "2004-06-30", None),
                                                    ("residence", "NL", "2004-07-01", "2012-12-31", "NL:SVB")]:
                self.open(d + 1, "InsurancePeriod")
                self.open(d + 2, "Period")
                self.el(d + 3, "StartDate", start)
                self.el(d + 3, "EndDate", end)
                self.close(d + 2, "Period")
                self.el(d + 2, "Kind", kind)
                self.el(d + 2, "Country", country)
                if inst:  # the optional institution, in one period of two
                    self.institution(d + 2, "Institution", inst)
                self.close(d + 1, "InsurancePeriod")
            self.close(d, name)
        elif typ == "PINType":
            self.pin(d, name, p)
        elif typ == "EntitlementDocumentRefType":
            self.open(d, name)
            self.el(d + 1, "DocumentType", ex or "S072")
            self.el(d + 1, "IssuedOn", "2026-01-05")
            self.period(d + 1, "Period")
            self.close(d, name)
        elif typ == "EmployerType":
            self.open(d, name)
            self.el(d + 1, "Name", "Exemple Logistique SA")
            self.el(d + 1, "Identifier", "0999888767", ' type="registration"')
            self.open(d + 1, "Address")
            self.el(d + 2, "Street", "Rue de l'Exemple 27")
            self.el(d + 2, "Town", "Antwerpen")
            self.el(d + 2, "PostalCode", "2000")
            self.el(d + 2, "Country", "BE")
            self.close(d + 1, "Address")
            self.close(d, name)
        elif typ in DEFAULTS:
            self.el(d, name, ex or DEFAULTS[typ])
        else:
            raise SystemExit(f"{self.sed}: no example for type {typ}")

    def render(self, spec):
        self.lines = ['<?xml version="1.0" encoding="UTF-8"?>',
                      f'<!-- GENERATED by sed-schemas/generate.py: fictitious data, no real person. -->',
                      f'<sed:{self.sed} xmlns:sed="{ns(self.version)}" sedGVer="{SED_GVER}" '
                      f'sedVer="{VERSIONS[self.version]}">']
        for n, t, o, e in (INSURED if spec["persons"] is None else spec["persons"]) + spec["sections"]:
            self.value(1, n, t, e)
        self.open(1, "LocalCaseNumbers")
        self.open(2, "LocalCaseNumber")
        self.institution(3, "Institution", self.ours)
        self.el(3, "CaseNumber", f"{self.ours.split(':')[1]}-2026-{1000 + self.n:04d}")
        self.close(2, "LocalCaseNumber")
        self.close(1, "LocalCaseNumbers")
        self.lines.append(f"</sed:{self.sed}>")
        return "\n".join(self.lines) + "\n"


def negative(valid_text, sed, find, repl, why):
    if find is None:  # X100 without NewInstitution: drop that element block
        start = valid_text.index("    <sed:NewInstitution>")
        end = valid_text.index("</sed:NewInstitution>\n") + len("</sed:NewInstitution>\n")
        body = valid_text[:start] + valid_text[end:]
    else:
        if valid_text.count(find) < 1:
            raise SystemExit(f"negative example for {sed}: {find!r} not in the valid fixture")
        body = valid_text.replace(find, repl, 1)
    head, rest = body.split("\n", 1)
    rest = rest.split("\n", 1)[1]  # drop the GENERATED comment of the valid fixture
    return f"{head}\n<!-- GENERATED by sed-schemas/generate.py. Invalid on purpose: {why} -->\n{rest}"


# The fixtures take their fictitious person and case number from their SED's place in this order:
# the SEDs of the first generation sorted, then the ones added later in the order they came, so that
# adding a SED does not rewrite every other fixture.
ADDED_LATER = [
    "DA010", "DA011", "DA012", "DA012C", "DA012R", "DA014", "DA015", "DA016", "DA016A", "DA017", "DA018",
    "DA019", "DA022", "DA026", "DA044", "DA046", "DA047", "DA074", "S028", "S032", "S054", "S071", "S077",
    "S085", "S105", "S131",
]


def numbered():
    later = [s for s in ADDED_LATER if s in SPEC]
    return [s for s in sorted(SPEC) if s not in ADDED_LATER] + later


def same_as_base(version):
    """The schema documentation's note on a version whose content is copied from the base version's."""
    if version == BASE:
        return ""
    return (f"\n      UNCERTAIN: the content is version {BASE}'s; no public source shows how {version} differs.")


def derive(source, version):
    """A hand-written file of the base version, as the file of `version`: the namespace, the schema's
    version attribute and sedVer rewritten (each rule must apply where its text is), nothing else."""
    text = source.read_text(encoding="utf-8")
    base_ver, ver = VERSIONS[BASE], VERSIONS[version]
    rules = [
        (ns(BASE), ns(version)),
        (f'version="{BASE}"', f'version="{version}"'),
        (f"version {BASE} (sedGVer {SED_GVER}, sedVer {base_ver})", f"version {version} (sedGVer {SED_GVER}, sedVer {ver})"),
        (f"{BASE} is sedGVer {SED_GVER}, sedVer {base_ver}.", f"{version} is sedGVer {SED_GVER}, sedVer {ver}."),
        (f'name="sedVer" type="xs:string" use="required" fixed="{base_ver}"',
         f'name="sedVer" type="xs:string" use="required" fixed="{ver}"'),
        (f'sedVer="{base_ver}"', f'sedVer="{ver}"'),
    ]
    for old, new in rules:
        text = text.replace(old, new)
    rel = source.relative_to(ROOT)
    left = re.search(r"(?<![\d.])" + re.escape(BASE) + r"(?![\d])|" + re.escape(BASE.replace(".", "_")), text)
    if left or ns(version) not in text:
        raise SystemExit(f"{rel}: cannot derive version {version}: "
                         + (f"{left.group(0)!r} left at offset {left.start()}" if left else "no SED namespace"))
    head, rest = text.split("\n", 1)
    note = (f"<!-- DERIVED by sed-schemas/generate.py from {rel} (data-model version {version}: namespace, "
            f"version and sedVer rewritten): edit that file and re-run, do not edit this file. -->")
    return f"{head}\n{note}\n{rest}"


def outputs():
    seds = tomllib.loads(SEDS_TOML.read_text(encoding="utf-8"))
    missing = [s for s in seds if s not in SPEC and s not in HAND_WRITTEN]
    unused = [s for s in SPEC if s not in seds]
    if missing or unused:
        raise SystemExit(f"seds.toml and SPEC disagree: no spec for {missing}; spec without a seds.toml entry {unused}")
    files = {}
    for version in VERSIONS:
        schemas, fixtures, invalid = schema_dir(version), fixture_dir(version), invalid_dir(version)
        for n, sed in enumerate(numbered()):
            info = seds[sed]
            files[schemas / f"{sed}.xsd"] = xsd_for(sed, info["title"], SPEC[sed], version)
            files[fixtures / f"{sed}.xml"] = Fixture(sed, info.get("sector", "AD"), n, version).render(SPEC[sed])
        for name, sed, find, repl, why in NEGATIVES:
            files[invalid / name] = negative(files[fixtures / f"{sed}.xml"], sed, find, repl, why)
        if version != BASE:
            hand = [schema_dir(BASE) / "common.xsd"]
            hand += [schema_dir(BASE) / f"{s}.xsd" for s in sorted(HAND_WRITTEN)]
            hand += [fixture_dir(BASE) / f"{s}.xml" for s in sorted(HAND_WRITTEN)]
            hand += [invalid_dir(BASE) / name for name in HAND_WRITTEN_INVALID]
            for source in hand:
                target = (schema_dir(version) if source.suffix == ".xsd" else fixture_dir(version)) / \
                    source.relative_to(schema_dir(BASE) if source.suffix == ".xsd" else fixture_dir(BASE))
                files[target] = derive(source, version)
    return files


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for path, text in outputs().items():
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if check:
        for p in stale:
            print(f"stale or missing: {p}")
        sys.exit(1 if stale else 0)


if __name__ == "__main__":
    main()
