"""The words the synthetic Mitos data set is made of: procedure objects, actions, qualifiers, organisations, registries.

Greek with English translations, close to how Mitos names things; nouns carry their genitive because titles use it.
"""

from __future__ import annotations

MYKEPLIVE_GROUP_ID = 8256  # the real provision-org group id of myKEPlive (video calls with a KEP)

# (nominative el, genitive el, en)
OBJECTS: list[tuple[str, str, str]] = [
    ("πιστοποιητικό οικογενειακής κατάστασης", "πιστοποιητικού οικογενειακής κατάστασης", "family status certificate"),
    ("βεβαίωση φορολογικής ενημερότητας", "βεβαίωσης φορολογικής ενημερότητας", "tax clearance certificate"),
    ("βεβαίωση ασφαλιστικής ενημερότητας", "βεβαίωσης ασφαλιστικής ενημερότητας", "social security clearance"),
    ("άδεια οδήγησης", "άδειας οδήγησης", "driving licence"),
    ("άδεια διαμονής", "άδειας διαμονής", "residence permit"),
    ("δελτίο αστυνομικής ταυτότητας", "δελτίου αστυνομικής ταυτότητας", "police identity card"),
    ("πιστοποιητικό γέννησης", "πιστοποιητικού γέννησης", "birth certificate"),
    ("ληξιαρχική πράξη θανάτου", "ληξιαρχικής πράξης θανάτου", "death certificate"),
    ("επίδομα παιδιού", "επιδόματος παιδιού", "child benefit"),
    ("επίδομα στέγασης", "επιδόματος στέγασης", "housing allowance"),
    ("επίδομα θέρμανσης", "επιδόματος θέρμανσης", "heating allowance"),
    ("κάρτα αναπηρίας", "κάρτας αναπηρίας", "disability card"),
    ("πιστοποιητικό εγγυτέρων συγγενών", "πιστοποιητικού εγγυτέρων συγγενών", "certificate of next of kin"),
    ("άδεια άσκησης επαγγέλματος", "άδειας άσκησης επαγγέλματος", "professional licence"),
    ("βεβαίωση μόνιμης κατοικίας", "βεβαίωσης μόνιμης κατοικίας", "certificate of permanent residence"),
    ("άδεια οικοδομής", "άδειας οικοδομής", "building permit"),
    ("ευρωπαϊκή κάρτα ασφάλισης ασθένειας", "ευρωπαϊκής κάρτας ασφάλισης ασθένειας", "European health insurance card"),
    ("σύνταξη γήρατος", "σύνταξης γήρατος", "old-age pension"),
    ("άδεια λειτουργίας καταστήματος", "άδειας λειτουργίας καταστήματος", "shop operating licence"),
    ("άδεια κυκλοφορίας οχήματος", "άδειας κυκλοφορίας οχήματος", "vehicle registration certificate"),
    (
        "πιστοποιητικό στρατολογικής κατάστασης",
        "πιστοποιητικού στρατολογικής κατάστασης",
        "military status certificate",
    ),
    ("βεβαίωση σπουδών", "βεβαίωσης σπουδών", "certificate of studies"),
    ("κάρτα ανεργίας", "κάρτας ανεργίας", "unemployment card"),
    ("ληξιαρχική πράξη γάμου", "ληξιαρχικής πράξης γάμου", "marriage certificate"),
]
# (el, en with {} for the object)
ACTIONS: list[tuple[str, str]] = [
    ("Έκδοση", "Issue of {}"),
    ("Ανανέωση", "Renewal of {}"),
    ("Αντικατάσταση", "Replacement of {}"),
    ("Χορήγηση", "Granting of {}"),
    ("Επανέκδοση", "Reissue of {}"),
    ("Ακύρωση", "Cancellation of {}"),
    ("Δήλωση απώλειας", "Report of loss of {}"),
    ("Μεταβολή στοιχείων", "Change of details of {}"),
]
QUALIFIERS: list[tuple[str, str]] = [
    ("", ""),
    (" για ανηλίκους", " for minors"),
    (" για πολίτες τρίτων χωρών", " for third-country nationals"),
    (" λόγω φθοράς", " due to damage"),
    (" για ομογενείς", " for persons of Greek origin"),
    (" σε κατοίκους εξωτερικού", " for residents abroad"),
]
STANDALONE: list[tuple[str, str]] = [
    ("Εγγραφή στο Μητρώο Αγροτών και Αγροτικών Εκμεταλλεύσεων", "Registration in the Register of Farmers"),
    ("Εγγραφή σε σχολική μονάδα πρωτοβάθμιας εκπαίδευσης", "Enrolment in a primary school"),
    ("Δήλωση γέννησης τέκνου", "Declaration of a child's birth"),
    ("Δήλωση έναρξης εργασιών επιχείρησης", "Declaration of business commencement"),
    ("Δήλωση φορολογίας εισοδήματος φυσικών προσώπων", "Personal income tax return"),
    ("Εγγραφή στο Γενικό Εμπορικό Μητρώο", "Registration in the General Commercial Register"),
    ("Ανανέωση κάρτας ανεργίας", "Renewal of the unemployment card"),
    ("Εγγραφή στους εκλογικούς καταλόγους", "Registration on the electoral roll"),
]
LIFE_EVENTS = [
    "Φορολογία πολιτών", "Γέννηση παιδιού", "Εκπαίδευση", "Εργασία και ασφάλιση", "Οικογένεια",
    "Υγεία και αναπηρία", "Μεταφορές και οχήματα", "Κατοικία και ακίνητα", "Ταξίδια στο εξωτερικό",
    "Επιχειρηματικότητα", "Συνταξιοδότηση", "Θάνατος και κληρονομιά", "Ιθαγένεια και μετανάστευση",
]  # fmt: skip
ORGS: list[tuple[int, str, str]] = [
    (23371, "Υπουργείο Προστασίας του Πολίτη", "Ministry of Citizen Protection"),
    (23372, "Υπουργείο Εσωτερικών", "Ministry of the Interior"),
    (23373, "Ανεξάρτητη Αρχή Δημοσίων Εσόδων (ΑΑΔΕ)", "Independent Authority for Public Revenue"),
    (23374, "Ηλεκτρονικός Εθνικός Φορέας Κοινωνικής Ασφάλισης (e-ΕΦΚΑ)", "e-EFKA"),
    (23375, "Οργανισμός Προνοιακών Επιδομάτων και Κοινωνικής Αλληλεγγύης (ΟΠΕΚΑ)", "OPEKA"),
    (23376, "Υπουργείο Υποδομών και Μεταφορών", "Ministry of Infrastructure and Transport"),
    (23377, "Υπουργείο Υγείας", "Ministry of Health"),
    (23378, "Υπουργείο Παιδείας, Θρησκευμάτων και Αθλητισμού", "Ministry of Education"),
    (23379, "Υπουργείο Αγροτικής Ανάπτυξης και Τροφίμων", "Ministry of Rural Development and Food"),
    (23380, "Υπουργείο Ψηφιακής Διακυβέρνησης", "Ministry of Digital Governance"),
    (23381, "Δήμος Αθηναίων", "Municipality of Athens"),
    (23382, "Δήμος Θεσσαλονίκης", "Municipality of Thessaloniki"),
    (23383, "Περιφέρεια Αττικής", "Region of Attica"),
    (23384, "Δημόσια Υπηρεσία Απασχόλησης (ΔΥΠΑ)", "Public Employment Service"),
]
UNIT_KINDS = [("Διεύθυνση Διοικητικών Υπηρεσιών", "Directorate of Administrative Services"),
               ("Τμήμα Εξυπηρέτησης Πολιτών", "Citizen Service Department")]  # fmt: skip
GROUPS: list[tuple[int, str, str]] = [
    (MYKEPLIVE_GROUP_ID, "myKEPlive", "myKEPlive"),
    (3777, "Προξενικές Αρχές", "Consular authorities"),
    (4272, "Αστυνομικά Τμήματα", "Police stations"),
    (1001, "Κέντρα Εξυπηρέτησης Πολιτών (ΚΕΠ)", "Citizen Service Centres (KEP)"),
    (1002, "Δήμοι", "Municipalities"),
]
EVIDENCE: list[tuple[str, str]] = [
    ("Αστυνομική ταυτότητα", "Police identity card"), ("Διαβατήριο", "Passport"),
    ("Υπεύθυνη δήλωση", "Solemn declaration"), ("Φωτογραφία", "Photograph"), ("Παράβολο", "Fee receipt"),
    ("Εκκαθαριστικό σημείωμα", "Tax assessment notice"), ("Ιατρική γνωμάτευση", "Medical opinion"),
    ("Εξουσιοδότηση", "Authorisation"), ("Άδεια διαμονής", "Residence permit"),
]  # fmt: skip
NACE = [("84.11", "Γενικές δημόσιες υπηρεσίες", "General public administration"),
         ("47.11", "Λιανικό εμπόριο", "Retail sale"), ("56.10", "Εστιατόρια", "Restaurants")]  # fmt: skip
SDG = [("A1", "Πληροφορίες για δικαιώματα", "Information on rights"),
        ("B2", "Διαδικασίες εγγραφής", "Registration procedures")]  # fmt: skip
REGISTRIES = [(501, "Μητρώο Πολιτών", "Civil registry"), (502, "Φορολογικό Μητρώο", "Tax registry")]
PROVIDED_TO = ["Πολίτες", "Επιχειρήσεις", "Νομικά πρόσωπα"]
RULE_TYPES = ["Νόμος", "Προεδρικό Διάταγμα", "Υπουργική Απόφαση", "Κοινή Υπουργική Απόφαση"]
