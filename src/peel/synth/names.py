"""Name pools for the synthetic population, and the ways a name goes wrong in a record.

Names come from Faker's locale lists (offline, in the package). Where Faker has no Latin-script
list for a group that London has (Bangladeshi, Arab, British Pakistani surnames), a short list is
written here: Faker's lists for those locales are in Bengali or Arabic script, and a police
record in London holds the English spelling. Pools are read once; sampling is numpy.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

import numpy as np

# Self-defined ethnicity (the 18+1 codes in schema/codes) shares for London, ONS Census 2021
# table TS021 (London region), rounded to 0.1% and normalised; W9 includes Roma, O9 includes
# the census "any other ethnic group". The police code list has no separate Roma code.
LONDON_ETHNICITY: dict[str, float] = {
    "W1": 36.8,
    "W2": 1.8,
    "W3": 0.1,
    "W9": 15.1,
    "M1": 1.5,
    "M2": 0.8,
    "M3": 1.2,
    "M9": 1.5,
    "A1": 7.5,
    "A2": 3.3,
    "A3": 3.7,
    "A4": 1.7,
    "A9": 4.6,
    "B1": 3.9,
    "B2": 7.9,
    "B9": 1.7,
    "O2": 1.6,
    "O9": 4.7,
}

# Officer-observed appearance most often recorded for each self-defined group (IC codes).
IC_FOR: dict[str, str] = {
    "W1": "IC1",
    "W2": "IC1",
    "W3": "IC1",
    "W9": "IC2",
    "M1": "IC3",
    "M2": "IC3",
    "M3": "IC4",
    "M9": "IC1",
    "A1": "IC4",
    "A2": "IC4",
    "A3": "IC4",
    "A4": "IC5",
    "A9": "IC4",
    "B1": "IC3",
    "B2": "IC3",
    "B9": "IC3",
    "O2": "IC6",
    "O9": "IC1",
}

_BD_SURNAMES = [
    "Begum",
    "Miah",
    "Uddin",
    "Ahmed",
    "Islam",
    "Khatun",
    "Rahman",
    "Hussain",
    "Ali",
    "Choudhury",
    "Chowdhury",
    "Hoque",
    "Haque",
    "Khan",
    "Bibi",
    "Akhtar",
    "Hossain",
    "Alam",
    "Sultana",
    "Karim",
    "Rahim",
    "Mahmud",
    "Sarkar",
    "Talukder",
]
_BD_MALE = [
    "Mohammed",
    "Abdul",
    "Nazmul",
    "Shahid",
    "Ruhul",
    "Kamal",
    "Jamal",
    "Rafiq",
    "Shafiq",
    "Anwar",
    "Faruk",
    "Habib",
    "Imran",
    "Jahangir",
    "Mizanur",
    "Mostafa",
    "Rashid",
    "Sohel",
    "Tanvir",
    "Yusuf",
    "Ahmed",
    "Ibrahim",
]
_BD_FEMALE = [
    "Rahima",
    "Fatema",
    "Nasima",
    "Sultana",
    "Roksana",
    "Jahanara",
    "Shirin",
    "Hasina",
    "Taslima",
    "Salma",
    "Nargis",
    "Farzana",
    "Rupa",
    "Amena",
    "Sabina",
]
_PK_SURNAMES = [
    "Khan",
    "Hussain",
    "Ahmed",
    "Ali",
    "Shah",
    "Iqbal",
    "Akhtar",
    "Mahmood",
    "Butt",
    "Malik",
    "Rashid",
    "Bibi",
    "Begum",
    "Mirza",
    "Qureshi",
    "Raza",
    "Javed",
    "Chaudhry",
    "Aslam",
    "Anwar",
    "Sheikh",
    "Riaz",
    "Younis",
    "Nawaz",
]
_ARAB_SURNAMES = [
    "Ahmed",
    "Ali",
    "Hassan",
    "Hussein",
    "Ibrahim",
    "Khalil",
    "Mansour",
    "Saleh",
    "Youssef",
    "Abdullah",
    "Mahmoud",
    "Othman",
    "Nasser",
    "Haddad",
    "Farouk",
    "Saeed",
    "Said",
    "Aziz",
    "Rahman",
    "Hamdan",
    "Suleiman",
    "Omar",
]
_ARAB_MALE = [
    "Mohammed",
    "Ahmed",
    "Ali",
    "Omar",
    "Khalid",
    "Yousef",
    "Hassan",
    "Ibrahim",
    "Mustafa",
    "Tariq",
    "Karim",
    "Samir",
    "Walid",
    "Nabil",
    "Faisal",
    "Hamza",
]
_ARAB_FEMALE = [
    "Fatima",
    "Aisha",
    "Mariam",
    "Layla",
    "Noor",
    "Huda",
    "Salma",
    "Rania",
    "Yasmin",
    "Amira",
    "Lina",
    "Dina",
    "Samira",
    "Zainab",
    "Hana",
]
_IRISH_TRAVELLER = [
    "Ward",
    "McDonagh",
    "Joyce",
    "Connors",
    "Doran",
    "Maughan",
    "Stokes",
    "Delaney",
    "Collins",
    "Quilligan",
    "McGinley",
    "Cash",
]

# Transliteration groups: one name, several English spellings. A person has one spelling;
# some of their records use another (the noise the issue asks for).
TRANSLITERATIONS: list[list[str]] = [
    ["Mohammed", "Muhammad", "Mohamed", "Mohammad", "Muhammed", "Mohamad"],
    ["Ahmed", "Ahmad", "Ahmet"],
    ["Hussain", "Hussein", "Husain", "Hossain"],
    ["Yusuf", "Yousef", "Yousuf", "Yusef"],
    ["Abdul", "Abdel", "Abdal"],
    ["Choudhury", "Chowdhury", "Chaudhry", "Choudhry"],
    ["Haque", "Hoque", "Huq"],
    ["Rahman", "Rehman"],
    ["Mahmood", "Mahmud", "Mahmoud"],
    ["Fatima", "Fatema", "Fatimah"],
    ["Aisha", "Ayesha", "Aysha"],
    ["Omar", "Umar"],
    ["Said", "Saeed", "Sayed"],
    ["Suleiman", "Sulaiman", "Suleyman"],
    ["Olumide", "Olumidé"],
    ["Oluwaseun", "Oluwasegun"],
    ["Zhang", "Chang"],
    ["Aleksander", "Alexander", "Aleksandr"],
]
TRANSLIT_OF: dict[str, list[str]] = {n: g for g in TRANSLITERATIONS for n in g}

NICKNAMES: dict[str, list[str]] = {
    "William": ["Bill", "Will", "Billy"],
    "Robert": ["Bob", "Rob", "Bobby"],
    "Michael": ["Mike", "Mick"],
    "James": ["Jim", "Jamie", "Jimmy"],
    "Thomas": ["Tom", "Tommy"],
    "Christopher": ["Chris"],
    "Daniel": ["Dan", "Danny"],
    "Matthew": ["Matt"],
    "Anthony": ["Tony"],
    "Joseph": ["Joe"],
    "Edward": ["Ed", "Ted", "Eddie"],
    "Richard": ["Rich", "Rick"],
    "Elizabeth": ["Liz", "Beth", "Lizzie"],
    "Margaret": ["Maggie", "Peggy"],
    "Katherine": ["Kate", "Kathy"],
    "Catherine": ["Cathy", "Kate"],
    "Jennifer": ["Jen", "Jenny"],
    "Rebecca": ["Becky", "Becca"],
    "Samantha": ["Sam"],
    "Alexander": ["Alex"],
    "Benjamin": ["Ben"],
    "Jonathan": ["Jon"],
    "Nicholas": ["Nick"],
    "Stephen": ["Steve"],
    "Steven": ["Steve"],
    "Andrew": ["Andy", "Drew"],
    "Peter": ["Pete"],
    "Samuel": ["Sam"],
    "Victoria": ["Vicky", "Tori"],
    "Mohammed": ["Mo"],
    "Muhammad": ["Mo"],
    "Abdul": ["Abdi"],
    "Oluwaseun": ["Seun"],
    "Oluwatobi": ["Tobi"],
    "Patricia": ["Pat"],
    "Deborah": ["Debbie"],
    "Susan": ["Sue"],
    "Jacqueline": ["Jackie"],
    "Charlotte": ["Charlie"],
    "Alexandra": ["Alex"],
    "Christine": ["Chris"],
    "Frederick": ["Fred"],
    "Gregory": ["Greg"],
    "Timothy": ["Tim"],
    "Kenneth": ["Ken"],
    "Raymond": ["Ray"],
    "Ronald": ["Ron"],
    "Lawrence": ["Larry"],
    "Leonard": ["Len"],
    "Nathaniel": ["Nat"],
    "Jessica": ["Jess"],
    "Emily": ["Em"],
    "Abigail": ["Abbie"],
    "Natalie": ["Nat"],
    "Josephine": ["Jo"],
}

_LOCALES: dict[str, list[tuple[str, float]]] = {
    "W1": [("en_GB", 1.0)],
    "W2": [("en_IE", 1.0)],
    "W3": [("traveller", 1.0)],
    "W9": [
        ("pl", 0.3),
        ("ro_RO", 0.2),
        ("it_IT", 0.12),
        ("pt_PT", 0.12),
        ("es_ES", 0.1),
        ("lt_LT", 0.08),
        ("fr_FR", 0.08),
    ],
    "M1": [("en_GB", 1.0)],
    "M2": [("en_GB", 0.6), ("yo_NG", 0.4)],
    "M3": [("en_GB", 0.6), ("en_IN", 0.4)],
    "M9": [("en_GB", 1.0)],
    "A1": [("en_IN", 1.0)],
    "A2": [("pk", 1.0)],
    "A3": [("bd", 1.0)],
    "A4": [("zh", 1.0)],
    "A9": [("en_IN", 0.6), ("vi_VN", 0.4)],
    "B1": [("en_GB", 1.0)],
    "B2": [("yo_NG", 0.45), ("tw_GH", 0.25), ("en_KE", 0.2), ("ig_NG", 0.1)],
    "B9": [("en_GB", 0.6), ("en_KE", 0.4)],
    "O2": [("arab", 1.0)],
    "O9": [("tr_TR", 0.5), ("es_ES", 0.3), ("pt_PT", 0.2)],
}


# Zipf exponents of surname frequency within a pool (lists in frequency order). Tuned so the
# 20 commonest surnames cover about a tenth of the city, near London's concentration (issue 3
# asks for at least 8%): steep exponents make a few names absurdly common.
SURNAME_ZIPF_LONG = 0.5
SURNAME_ZIPF_SHORT = 0.6


@dataclass(frozen=True)
class Pool:
    male: np.ndarray
    female: np.ndarray
    surnames: np.ndarray
    surname_p: np.ndarray


def _zipf(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def _faker_lists(locale: str) -> tuple[list[str], list[str], list[str]]:
    prov = importlib.import_module(f"faker.providers.person.{locale}").Provider
    first = list(getattr(prov, "first_names", []))
    male = list(getattr(prov, "first_names_male", first))
    female = list(getattr(prov, "first_names_female", first))
    if locale == "zh_CN":
        male = female = list(prov.first_romanized_names)
        return male, female, list(prov.last_romanized_names)
    return male, female, list(prov.last_names)


@cache
def pool(name: str) -> Pool:
    """The names of one pool. Surnames carry Faker's population frequencies where the locale
    has them (en_GB, en_KE); other lists are Zipf-weighted in their order."""
    if name == "bd":
        male, female, last = _BD_MALE, _BD_FEMALE, _BD_SURNAMES
    elif name == "pk":
        male, female, _ = _faker_lists("en_PK")
        male = [
            "Mohammed",
            "Muhammad",
            "Ali",
            "Imran",
            "Usman",
            "Bilal",
            "Adeel",
            "Asif",
            "Zahid",
            "Tariq",
            "Kamran",
            "Faisal",
            "Hamza",
            "Zain",
            "Umar",
            "Shahzad",
            *male,
        ]
        female = [
            "Ayesha",
            "Fatima",
            "Saima",
            "Nadia",
            "Sana",
            "Rabia",
            "Amina",
            "Bushra",
            "Nazia",
            "Shazia",
            "Hina",
            "Sadia",
            "Iqra",
            "Mehwish",
        ]
        last = _PK_SURNAMES
    elif name == "arab":
        male, female, last = _ARAB_MALE, _ARAB_FEMALE, _ARAB_SURNAMES
    elif name == "traveller":
        male, female, _ = _faker_lists("en_IE")
        last = _IRISH_TRAVELLER
    elif name == "pl":
        male, female, _ = _faker_lists("pl_PL")
        last = [
            "Nowak",
            "Kowalski",
            "Wiśniewski",
            "Wójcik",
            "Kowalczyk",
            "Kamiński",
            "Lewandowski",
            "Zieliński",
            "Szymański",
            "Woźniak",
            "Dąbrowski",
            "Kozłowski",
            "Jankowski",
            "Mazur",
            "Krawczyk",
            "Piotrowski",
            "Grabowski",
            "Nowakowski",
        ]
    elif name == "zh":
        male, female, last = _faker_lists("zh_CN")
    else:
        male, female, last = _faker_lists(name)
    weights = _faker_weights(name)
    if weights is not None:
        last = list(weights)
        w = np.array([weights[x] for x in last], dtype=float)
        return Pool(np.array(male), np.array(female), np.array(last), w / w.sum())
    last = list(dict.fromkeys(last))
    s = SURNAME_ZIPF_LONG if len(last) > 100 else SURNAME_ZIPF_SHORT
    return Pool(np.array(male), np.array(female), np.array(last), _zipf(len(last), s))


def _faker_weights(locale: str) -> dict[str, float] | None:
    """Faker's surname frequencies for a locale, when it publishes them (an OrderedDict of
    name to share)."""
    try:
        prov = importlib.import_module(f"faker.providers.person.{locale}").Provider
    except ImportError:
        return None
    names_ = getattr(prov, "last_names", None)
    if (
        isinstance(names_, dict)
        and names_
        and all(isinstance(v, int | float) for v in names_.values())
    ):
        return {str(k): float(v) for k, v in names_.items()}
    return None


def ethnicity_codes() -> tuple[np.ndarray, np.ndarray]:
    codes = np.array(list(LONDON_ETHNICITY))
    p = np.array(list(LONDON_ETHNICITY.values()))
    return codes, p / p.sum()


def draw_names(
    rng: np.random.Generator, eth: np.ndarray, male: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forename, middle name or '', surname) for people of the given ethnicity and sex."""
    n = len(eth)
    fore = np.empty(n, dtype=object)
    middle = np.full(n, "", dtype=object)
    sur = np.empty(n, dtype=object)
    for code, locales in _LOCALES.items():
        idx = np.flatnonzero(eth == code)
        if not len(idx):
            continue
        names = [loc for loc, _ in locales]
        w = np.array([p for _, p in locales])
        which = rng.choice(len(names), size=len(idx), p=w / w.sum())
        for k, loc in enumerate(names):
            sub = idx[which == k]
            if not len(sub):
                continue
            pl = pool(loc)
            m = male[sub]
            f = np.where(
                m,
                pl.male[rng.integers(0, len(pl.male), len(sub))],
                pl.female[rng.integers(0, len(pl.female), len(sub))],
            )
            fore[sub] = f
            sur[sub] = pl.surnames[rng.choice(len(pl.surnames), size=len(sub), p=pl.surname_p)]
            has_mid = rng.random(len(sub)) < 0.35
            mid = np.where(
                m,
                pl.male[rng.integers(0, len(pl.male), len(sub))],
                pl.female[rng.integers(0, len(pl.female), len(sub))],
            )
            middle[sub[has_mid]] = mid[has_mid]
    return fore, middle, sur


_KEYBOARD = {
    c: n for c, n in zip("qwertyuiopasdfghjklzxcvbnm", "wqeryuiopoasdfghjkklzxcvbnm", strict=False)
}


def typo(rng: np.random.Generator, name: str) -> str:
    """One keyboard-style error: a dropped, doubled, swapped or substituted letter."""
    if len(name) < 3:
        return name + name[-1].lower()
    i = int(rng.integers(1, len(name) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return name[:i] + name[i + 1 :]
    if kind == 1:
        return name[:i] + name[i] + name[i:]
    if kind == 2:
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    c = name[i].lower()
    sub = _KEYBOARD.get(c, "e")
    if sub == c:
        sub = "a" if c != "a" else "e"
    return name[:i] + (sub.upper() if name[i].isupper() else sub) + name[i + 1 :]


def nickname(rng: np.random.Generator, name: str) -> str:
    options = NICKNAMES.get(name)
    if options:
        return options[int(rng.integers(0, len(options)))]
    return name[:3] if len(name) > 5 else name[:2] + name[2:3] + "y" if len(name) > 3 else name


def other_spelling(rng: np.random.Generator, name: str) -> str | None:
    group = TRANSLIT_OF.get(name)
    if not group:
        return None
    others = [g for g in group if g != name]
    return others[int(rng.integers(0, len(others)))]


__all__ = [
    "IC_FOR",
    "LONDON_ETHNICITY",
    "NICKNAMES",
    "TRANSLITERATIONS",
    "draw_names",
    "ethnicity_codes",
    "nickname",
    "other_spelling",
    "pool",
    "typo",
]
