"""Demo data: offices, their staff and a form (fixed ids: seeding twice changes nothing); procedures come from
Mitos, and a few synced ones are activated for the demo offices."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from infra.db import Conn, create_pool
from infra.settings import Settings

NS = uuid.UUID("6f1c9a4e-3d0b-4b8e-9a59-0d1f6c2b7e10")


def sid(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"{kind}:{key}")


@dataclass(frozen=True)
class DemoUser:
    subject: str
    office: str | None
    name: str
    roles: tuple[str, ...]


OFFICES = [
    ("KEP-ATH-001", "kep", "ΚΕΠ Δήμου Αθηναίων", "KEP Municipality of Athens", "Αθηναίων"),
    ("KEP-THE-001", "kep", "ΚΕΠ Δήμου Θεσσαλονίκης", "KEP Municipality of Thessaloniki", "Θεσσαλονίκης"),
    ("EKE-ATT-001", "eke", "ΕΚΕ Αττικής", "Point of Single Contact Attica", "Αθηναίων"),
    ("CENTRAL", "central", "Κεντρική Διοίκηση ΚΕΠ", "KEP Central Administration", None),
]

# what the administrators would have entered for the demo offices (issue 17): the org chart, contacts, hours
_WEEKDAYS = {day: [{"opens": "08:00", "closes": "15:00"}] for day in ("mon", "tue", "wed", "thu", "fri")}
OFFICE_DETAILS: dict[str, dict[str, object]] = {
    "KEP-ATH-001": {"parent": "CENTRAL", "address": "Αθηνάς 63", "postal_code": "10552", "region": "Αττική",
                    "regional_unit": "Κεντρικού Τομέα Αθηνών", "phone": "210 0000001",
                    "opening_hours": _WEEKDAYS | {"tue": [{"opens": "08:00", "closes": "20:00"}]}},
    "KEP-THE-001": {"parent": "CENTRAL", "address": "Βασιλέως Γεωργίου Α΄ 1", "postal_code": "54640",
                    "region": "Κεντρική Μακεδονία", "regional_unit": "Θεσσαλονίκης", "phone": "2310 000001",
                    "opening_hours": _WEEKDAYS},
    "EKE-ATT-001": {"parent": "CENTRAL", "region": "Αττική", "phone": "210 0000002", "opening_hours": _WEEKDAYS},
    "CENTRAL": {"region": "Αττική", "website": "https://www.kep.gov.gr"},
}  # fmt: skip

# service points of the demo offices (issue 17, part 4), at their real places: (office, key, kind, name_el, name_en,
# address, postal code, municipality, lat, lon, hours)
_SATURDAYS = {"sat": [{"opens": "09:00", "closes": "13:00"}]}
SERVICE_POINTS = [
    ("KEP-ATH-001", "athinas", "counter", "ΚΕΠ Δήμου Αθηναίων — γκισέ Αθηνάς", "KEP Athens — Athinas St counters",
     "Αθηνάς 63", "10552", "Αθηναίων", 37.9803, 23.7267, OFFICE_DETAILS["KEP-ATH-001"]["opening_hours"]),
    ("KEP-ATH-001", "kypseli", "satellite", "Σημείο εξυπηρέτησης Κυψέλης", "Kypseli service point",
     "Φωκίωνος Νέγρη 40", "11361", "Αθηναίων", 37.9986, 23.7391, _WEEKDAYS | _SATURDAYS),
    ("KEP-ATH-001", "syntagma", "kiosk", "Περίπτερο εξυπηρέτησης Συντάγματος", "Syntagma Square kiosk",
     "Πλατεία Συντάγματος", "10563", "Αθηναίων", 37.9755, 23.7348,
     {day: [{"opens": "07:00", "closes": "23:00"}] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}),
    ("KEP-THE-001", "city-hall", "counter", "ΚΕΠ Δήμου Θεσσαλονίκης — Δημαρχείο", "KEP Thessaloniki — City Hall",
     "Βασιλέως Γεωργίου Α΄ 1", "54640", "Θεσσαλονίκης", 40.6243, 22.9560, _WEEKDAYS),
    ("KEP-THE-001", "aristotelous", "kiosk", "Περίπτερο εξυπηρέτησης Πλατείας Αριστοτέλους",
     "Aristotelous Square kiosk", "Πλατεία Αριστοτέλους", "54624", "Θεσσαλονίκης", 40.6325, 22.9408,
     _WEEKDAYS | _SATURDAYS),
]  # fmt: skip

USERS = [
    DemoUser("maria.papadopoulou", "KEP-ATH-001", "Μαρία Παπαδοπούλου", ("employee",)),
    DemoUser("giorgos.nikolaou", "KEP-ATH-001", "Γιώργος Νικολάου", ("employee", "supervisor")),
    DemoUser("eleni.georgiou", "KEP-THE-001", "Ελένη Γεωργίου", ("employee",)),
    DemoUser("admin", "CENTRAL", "Διαχειριστής", ("administrator",)),
]

CONTACT_FORM = {
    "display": "form",
    "components": [
        {"type": "textfield", "key": "purpose", "label": "Σκοπός", "validate": {"required": True, "maxLength": 200}},
        {"type": "number", "key": "copies", "label": "Αντίγραφα", "validate": {"min": 1, "max": 10}},
    ],
}
# what EU citizens read instead (EUGO shows the form in English)
CONTACT_FORM_TRANSLATIONS = {"en": {"Σκοπός": "Purpose", "Αντίγραφα": "Copies", "Γενική αίτηση": "General request"}}


# the KEP case process's review user task (formKey "kep:review")
REVIEW_FORM = {
    "display": "form",
    "components": [
        {"type": "radio", "key": "decision", "label": "Απόφαση", "validate": {"required": True},
         "values": [{"label": "Έγκριση", "value": "approve"}, {"label": "Απόρριψη", "value": "reject"}]},
        # a rejection is explained to the citizen: the reason is asked for, and required, only then
        {"type": "textarea", "key": "reason", "label": "Αιτιολογία απόρριψης",
         "validate": {"required": True, "minLength": 3, "maxLength": 2000},
         "conditional": {"show": True, "when": "decision", "eq": "reject"}},
        {"type": "textarea", "key": "comment", "label": "Σχόλιο", "validate": {"maxLength": 2000}},
    ],
}  # fmt: skip


async def seed(database_url: str) -> dict[str, int]:
    pool = await create_pool(database_url, 1, 2)
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await _seed(conn)
    finally:
        await pool.close()


async def _seed(conn: Conn) -> dict[str, int]:
    counts = {"offices": 0, "users": 0, "forms": 0}
    for code, kind, name_el, name_en, municipality in OFFICES:
        status = await conn.execute(
            """INSERT INTO offices (id, code, kind, name_el, name_en, municipality, address, postal_code,
                                   regional_unit, region, phone, website, opening_hours)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING""",
            sid("office", code),
            code,
            kind,
            name_el,
            name_en,
            municipality,
            *(OFFICE_DETAILS[code].get(k) for k in ("address", "postal_code", "regional_unit", "region", "phone")),
            OFFICE_DETAILS[code].get("website"),
            OFFICE_DETAILS[code].get("opening_hours", {}),
        )
        counts["offices"] += status.endswith("1")
    for code, details in OFFICE_DETAILS.items():  # once every office is there: the org chart
        if "parent" in details:
            await conn.execute(
                "UPDATE offices SET parent_id = $2 WHERE id = $1 AND parent_id IS NULL",
                sid("office", code),
                sid("office", str(details["parent"])),
            )
    for office, key, kind, name_el, name_en, address, postal_code, municipality, lat, lon, hours in SERVICE_POINTS:
        await conn.execute(
            """INSERT INTO service_points (id, office_id, kind, name_el, name_en, address, postal_code, municipality,
                                          location, opening_hours)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                       ST_SetSRID(ST_MakePoint($9::float8, $10::float8), 4326)::geography, $11)
               ON CONFLICT (id) DO NOTHING""",
            sid("service-point", f"{office}:{key}"),
            sid("office", office),
            kind,
            name_el,
            name_en,
            address,
            postal_code,
            municipality,
            lon,
            lat,
            hours,
        )
    for u in USERS:
        status = await conn.execute(
            # `subject` is the token's `sub`: the realm gives each demo user the id sid("user", username)
            """INSERT INTO users (id, subject, office_id, display_name, roles)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (id) DO UPDATE SET subject = EXCLUDED.subject WHERE users.subject <> EXCLUDED.subject""",
            sid("user", u.subject),
            str(sid("user", u.subject)),
            sid("office", u.office) if u.office else None,
            u.name,
            list(u.roles),
        )
        counts["users"] += status.endswith("1")
    form_id = sid("form", "generic-request:1")
    status = await conn.execute(
        """INSERT INTO forms (id, key, version, title, definition, translations, created_by)
           VALUES ($1, 'generic-request', 1, 'Γενική αίτηση', $2, $3, 'seed') ON CONFLICT DO NOTHING""",
        form_id,
        CONTACT_FORM,
        CONTACT_FORM_TRANSLATIONS,
    )
    counts["forms"] += status.endswith("1")
    # a demo form saved before forms had translations gets them as its next version (one an administrator saved
    # since is left as it is)
    status = await conn.execute(
        """INSERT INTO forms (id, key, version, title, definition, translations, created_by)
           SELECT $1, key, version + 1, title, definition, $2, 'seed' FROM forms
           WHERE key = 'generic-request' AND created_by = 'seed' AND translations = '{}'::jsonb
             AND version = (SELECT max(version) FROM forms WHERE key = 'generic-request')""",
        uuid.uuid4(),
        CONTACT_FORM_TRANSLATIONS,
    )
    counts["forms"] += status.endswith("1")
    # the review form gets a new version when its definition here changed (tasks keep the version they had)
    status = await conn.execute(
        """INSERT INTO forms (id, key, version, title, definition, created_by)
           SELECT $1, 'review', coalesce(max(version), 0) + 1, 'Έλεγχος υπόθεσης', $2, 'seed' FROM forms
           WHERE key = 'review'
           HAVING coalesce((SELECT definition FROM forms WHERE key = 'review' ORDER BY version DESC LIMIT 1)
                           <> $2::jsonb, true)""",
        uuid.uuid4(),
        REVIEW_FORM,
    )
    counts["forms"] += status.endswith("1")
    return counts


def _icon(path: str) -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="{path}"/></svg>'


# the external applications employees sign on to (issue 17, part 6): (client id, name, URL, description, icon,
# roles, offices by code); none listed means every one
DEMO_APPS = [
    ("kep-helpdesk", "Helpdesk ΚΕΠ", "https://helpdesk.kep.example.gr", "Αιτήματα τεχνικής υποστήριξης",
     _icon("M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20z"), [], []),
    ("kep-training", "Πύλη εκπαίδευσης", "https://training.kep.example.gr", "Μαθήματα και οδηγοί για το προσωπικό",
     _icon("M12 3 1 9l11 6 11-6z"), ["employee", "supervisor"], []),
    ("kep-forum", "Κοινότητα ΚΕΠ", "https://forum.kep.example.gr", "Το φόρουμ των υπαλλήλων των ΚΕΠ",
     _icon("M2 4h20v12H6l-4 4z"), [], ["KEP-ATH-001", "KEP-THE-001"]),
]  # fmt: skip


async def seed_apps(settings: Settings) -> int:
    """Registers the demo applications not registered yet, each with its Keycloak client (a demo client left in
    Keycloak by an earlier database is replaced)."""
    from actors.external_apps import store
    from actors.external_apps.keycloak import KeycloakClients
    from messages.external_apps import AppNew

    keycloak = KeycloakClients(settings)
    pool = await create_pool(settings.database_url.get_secret_value(), 1, 2)
    made = 0
    try:
        async with pool.acquire() as conn:
            for client_id, name, url, description, icon, roles, offices in DEMO_APPS:
                if await conn.fetchval("SELECT 1 FROM external_apps WHERE client_id = $1", client_id):
                    continue
                if (orphan := await keycloak.find(client_id)) is not None:
                    await keycloak.delete(orphan)
                new = AppNew.model_validate(
                    {
                        "client_id": client_id,
                        "name": name,
                        "url": url,
                        "description": description,
                        "icon": icon,
                        "roles": roles,
                        "office_ids": [str(sid("office", code)) for code in offices],
                    }
                )
                await store.create(conn=conn, keycloak=keycloak, new=new, actor="seed", request_id=None)
                made += 1
    finally:
        await pool.close()
        await keycloak.aclose()
    return made


async def activate_demo_procedures(database_url: str, count: int = 10, eugo: int = 5) -> int:
    """Activate the first synced procedures (by Mitos id) with the demo form and the KEP case process, unless some
    are active already; then, until `eugo` procedures offered through EUGO are active, the next of those (the public
    catalogue and the EU citizens' applications have something to show, even when the first pass took one or two)."""
    pool = await create_pool(database_url, 1, 1)
    try:
        activated = 0
        for only_eugo, limit in ((False, count), (True, eugo)):
            # the general pass only where nothing is active (what an administrator deactivated stays so); the EUGO
            # pass tops up to `eugo`
            status: str = await pool.execute(
                """UPDATE procedures SET active = true, form_key = 'generic-request', bpmn_process_key = 'kep_case'
                   WHERE id IN (SELECT id FROM procedures WHERE removed_at IS NULL AND NOT active AND (eugo OR NOT $2)
                                ORDER BY mitos_id
                                LIMIT CASE WHEN $2 THEN greatest(0, $1 - (SELECT count(*) FROM procedures
                                                                         WHERE active AND eugo))
                                           WHEN EXISTS (SELECT 1 FROM procedures WHERE active) THEN 0
                                           ELSE $1 END)""",
                limit,
                only_eugo,
            )
            activated += int(status.split()[-1])
        await seed_routings(pool)
        return activated
    finally:
        await pool.close()


# demo routings (issue 17, part 5), for each active procedure that has none: (office, region, channel); the office
# of Athens by default, Thessaloniki's for Central Macedonia, the ΕΚΕ for what comes through EUGO
ROUTINGS = [
    ("KEP-ATH-001", None, None),
    ("KEP-THE-001", "Κεντρική Μακεδονία", None),
    ("EKE-ATT-001", None, "eugo"),
]


async def seed_routings(pool: asyncpg.Pool[asyncpg.Record]) -> int:
    """The demo rules of the active procedures that have no rule yet (fixed ids: seeding twice changes nothing, and
    a procedure an administrator has routed is left as it is)."""
    made = 0
    async with pool.acquire() as conn, conn.transaction():
        procedures = await conn.fetch(
            "SELECT id FROM procedures p WHERE active AND NOT EXISTS (SELECT 1 FROM routings WHERE procedure_id = p.id)"
        )
        for p in procedures:
            for office, region, channel in ROUTINGS:
                status = await conn.execute(
                    """INSERT INTO routings (id, procedure_id, office_id, region, channel, note)
                       VALUES ($1, $2, $3, $4, $5, 'demo') ON CONFLICT DO NOTHING""",
                    sid("routing", f"{p['id']}:{region}:{channel}"),
                    p["id"],
                    sid("office", office),
                    region,
                    channel,
                )
                made += status.endswith("1")
    return made


async def chaos_procedure(database_url: str, office_code: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The office of `office_code` and a procedure of the chaos run's own (kepctl/chaos.py): the KEP case process
    and one evidence, so that the process assigns each case and suspends it for its documents. Not from Mitos (a
    full sync would mark it removed; the run makes it current again each time)."""
    pool = await create_pool(database_url, 1, 1)
    try:
        office_id = await pool.fetchval("SELECT id FROM offices WHERE code = $1", office_code)
        if office_id is None:
            raise LookupError(f"no office {office_code}: seed the demo data first (`kep up`)")
        procedure_id = sid("procedure", "chaos")
        await pool.execute(
            """INSERT INTO procedures (id, mitos_id, title_el, title_en, payload, active, duration_days,
                                       form_key, bpmn_process_key)
               VALUES ($1, 'chaos', 'Δοκιμή αντοχής (chaos)', 'Chaos run', $2, true, 10, 'generic-request', 'kep_case')
               ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload, active = true, removed_at = NULL,
                   form_key = EXCLUDED.form_key, bpmn_process_key = EXCLUDED.bpmn_process_key""",
            procedure_id,
            {"metadata": {"process_evidences": [{"evidence_description": "Υπεύθυνη δήλωση"}]}},
        )
        return office_id, procedure_id
    finally:
        await pool.close()
