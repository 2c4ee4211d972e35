"""English for the enumerated Greek labels Mitos uses (types, audiences, channels, life events).

Mitos translates free text on en.mitos.gov.gr, but its enumerations come in Greek whatever `lang` is asked; these
are fixed sets, so a table does. A label not in it stays Greek (and is tagged so in JSON-LD).
"""

from __future__ import annotations

ENGLISH: dict[str, str] = {
    # provided_to
    "Πολίτες": "Citizens",
    "Επιχειρήσεις": "Businesses",
    "Νομικά πρόσωπα": "Legal entities",
    # output_type
    "Πιστοποιητικό": "Certificate",
    "Άδεια": "Licence",
    "Βεβαίωση": "Attestation",
    "Επίδομα": "Benefit",
    "Έγκριση": "Approval",
    "Απόφαση": "Decision",
    "Εγγραφή": "Registration",
    # conditions_type, evidence_cost_type, evidence_submission_type, delivery_type
    "Προϋπόθεση": "Precondition",
    "Παράβολο": "Fee",
    "e-Παράβολο": "e-Fee",
    "Ψηφιακά": "Digitally",
    "Φυσική παρουσία": "In person",
    "Ταχυδρομικά": "By post",
    "Προσκομίζεται κατά την υποβολή της αίτησης": "Handed in with the application",
    # provided_language
    "Ελληνικά": "Greek",
    "Αγγλικά": "English",
    # rule_type
    "Νόμος": "Law",
    "Προεδρικό Διάταγμα": "Presidential decree",
    "Υπουργική Απόφαση": "Ministerial decision",
    "Κοινή Υπουργική Απόφαση": "Joint ministerial decision",
    "Εγκύκλιος": "Circular",
    # common conditions
    "Ενηλικίωση": "Being of age",
    "Μόνιμη κατοικία στην Ελλάδα": "Permanent residence in Greece",
    "Ελληνική ιθαγένεια": "Greek citizenship",
    # life_events
    "Φορολογία πολιτών": "Taxation of citizens",
    "Γέννηση παιδιού": "Birth of a child",
    "Εκπαίδευση": "Education",
    "Εργασία και ασφάλιση": "Work and social insurance",
    "Οικογένεια": "Family",
    "Υγεία και αναπηρία": "Health and disability",
    "Μεταφορές και οχήματα": "Transport and vehicles",
    "Κατοικία και ακίνητα": "Housing and property",
    "Ταξίδια στο εξωτερικό": "Travelling abroad",
    "Επιχειρηματικότητα": "Doing business",
    "Συνταξιοδότηση": "Retirement",
    "Θάνατος και κληρονομιά": "Death and inheritance",
    "Ιθαγένεια και μετανάστευση": "Citizenship and migration",
}

# life events about running a business: grouped as cv:BusinessEvent, the rest as cv:LifeEvent
BUSINESS_EVENTS = frozenset({"Επιχειρηματικότητα"})
