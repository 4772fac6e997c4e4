"""A disclosure case: the phone of a burglary series' offender, its WhatsApp exports, its
contacts, which messages are relevant, and every piece of personal data in the messages.

The owner is the offender of the city's first burglary series; the chats run from some weeks
before its first burglary to some weeks after its last. Relevant messages (planning, the
nights themselves, selling the goods on, alibis, lying low) are written in slang and
euphemism, many short and meaningful only in context ("same time tmrw?"), while the rest of
the phone talks of car services, job interviews, house parties and selling things on
marketplace in the same words, so no keyword search finds the relevant set and a ranking
model has to learn it. Every phone number is in an Ofcom drama range, every e-mail address
at example.com, example.org or example.net, every postcode in the city's made-up areas,
every name a synthetic person's; a contact whose name is also a word the templates use is
passed over, so every name in a message is a planted one.

Text comes from template grammars: `[a|b|c]` picks one option, `{slot}` is filled (personal
data slots are recorded as written), `¶` breaks a line inside a message. The templates are
data and make up half of this file; they stay beside the code that reads their slots.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from peel.synth.crime import Crimes, Series
from peel.synth.params import Params
from peel.synth.population import Addresses, People

CASE_REFERENCE = "DEMO/DISC/1"
CASE_DIR = "DEMO-DISC-1"
ENCRYPTED = (
    "Messages and calls are end-to-end encrypted. No one outside of this chat, not even "
    "WhatsApp, can read or listen to them."
)

# Relevant talk: the burglaries, said many ways.
_RELEVANT = {
    "plan": """
[that|the] [gaff|house|place|one] on {street}[, the one with the side gate| with the side \
gate| by the bus stop| with the new fence|]
[they're|theyre|they are] away [till|until] {day}[, whole family| innit|]
[lights|lights are] [off|out] by {time} most nights
[no|there's no] [alarm box|alarm|camera] [on the back|round the back][, checked|]
[back|side] door's [got a rubbish lock|just a cheap lock|never locked]
[bring|grab] the [bits|tools|gloves|big screwdriver|snapper]
[we'll|we will|gonna] [take|use] the {car}[, not mine|, mine's too known|]
park [up|] round the corner on {street}[, not outside|]
[I'll|ill] [do the door|go in the back|watch the road|wait in the motor], you [do \
upstairs|grab the stuff|keep an eye out|drive]
[been past it|drove past it|had a look] [twice|again|earlier][, looks easy|, nobody about|\
, car's gone from the drive|]
[he works|she works|they work] nights [so|] [the house is empty|no one's in] \
[after {time}|from {time}|]
[the|that] [job|bit of work|thing] [on|for] {day} still [on|happening]?
[get|grab] {item} and [go|bounce|leave the rest]
[don't|dont] [bring|take] your phone[ in|, leave it at home|]
[masks|hoods up] [yeah|and gloves|obviously]
[{poss} cousin|{first}] [can|will] [lend us|sort us] the {car} for {day}
[plates|the plates] [sorted|need changing|are done] [on the {car}|]
[quiet|dead] street, [no cameras|no cctv|no doorbell cams] [except the corner|on that side|]
[how much|what] [do you reckon|you think] [is in there|they got]
[saw|seen] [a|the] [mac|laptop|big telly|safe] through the [window|front window] [lol|]
[check|look at] the [bins|post] [piling up|not being taken in], [def|defo] away
[the|that] [one|gaff] near {pc}[, end of the road|, the corner house|]
[same as|like] last time, [in and out|ten minutes|no messing]
[not|don't go] before {time}, [neighbours|the old boy next door] [up late|walks his dog]
[{first} knows|{first} said] [they're|the owners are] [on holiday|in Spain|at a wedding] \
[till {day}|all week|]
[need|want] [one|another] [more|] [this week|before {day}]
[the new builds|the flats|that detached one] [off|by] {street}, [easy|no one looks]
""",
    "night": """
[outside|here|out front]
[2|5|10] [mins|min]
you [ready|up|awake]?
[go|now|move]
[wait|hold on], [car|someone] coming
all quiet?
[done|in|out]
[someone's in|car's on the drive|dog's going mad]
[same time tomorrow?|same again tomorrow?|tomorrow same time?]
[on my way|omw|leaving now]
[where you|where are you]
[round the back|at the back]
[say less|bet|sound]
[come get me|pick me up] [at mine|from {place}|]
[bags|bag's] [full|heavy] lol
[drive|just drive]
[engine on|keep it running]
[dog barking|dog next door], [wait|hang on]
[gloves|got gloves]?
""",
    "sell": """
[got|have] some [bits|stuff|gear] [for you|if you want it]: {item}[ and {item}|]
[what|how much] [will you|you] [give|pay] for {item}?
[{price} for the lot|{price} for {item}|best I can do is {price}]
[it's|its] [still|] warm [so|] [need it gone|not sitting on it]
[it's|its] [a bit|too] hot [to keep|for marketplace]
[bring it|drop it] [round|over] [to the unit|to the shop|to {place}] [after {time}|tonight|]
[no|] serial numbers [on it|scratched off|]
[has it got|got] the [charger|box|password]?
[usual place|same place as before]?
[cash|cash only], [no transfers|no bank|obviously]
[my guy|my man|my boy] [in|from] [Croydon|Peckham|Lewisham|Streatham] [takes|wants] the \
[gold|jewellery|watches]
[wipe|reset] the [laptops|phones|ipad] first
[he|they] knocked {price} off [cos|because] [no box|it's scratched]
ring {first} on {phone}, [he takes gold|they want the tablets|pays cash]
[drop|leave] it at {pc} [after dark|after {time}|]
[any|] more [coming|this week]? [I've got buyers|got people waiting]
[the|that] [watch|ring|chain] is [fake|real gold|worth more than that]
""",
    "after": """
[your|ur] [half|share|cut]'s [in the usual place|at mine|in the glovebox]
[that's|thats] {price} each
[he|they] only gave {price} for [the lot|it all]
[feds|police|old bill|5-0] [been|were] [round|on] {street} [asking questions|knocking doors|today]
keep [your|ur] head down [for a bit|this week]
[don't|dont] [message|text] me about [it|that] on here
[delete|clear] this [chat|convo][ after|]
[there's|theres] a [van|unmarked car|police car] [outside|by] the [estate|shop|block]
[leave|park] the {car} [at|by] {place} for a [week|bit]
[burn|bin] the [gloves|hoodies|trainers]
[it was|it's] on the [local|facebook] page [lol|, they've got a doorbell clip|]
[they|the feds] [got|have] a [clip|video|pic] of [the motor|the car|a car] [but|] [no \
plate|not the plate|blurry]
[lay low|stay in|go quiet] till [it blows over|next week]
[easy money|too easy] [that|last night] [lol|]
[{first} was asking|{first} knows] [about|what we did on] {day}[, keep it shut|]
[never again|not doing that street again], [too close|too many cameras]
""",
    "alibi": """
if anyone asks I was [with you|at yours|at urs] [{day}|last night|all night]
[just|] say I [was|stayed] at [yours|urs|{poss}] [yeah|ok]
[don't|dont] tell [anyone|your mum|{first}] I went out [last night|{day}]
[if|when] [the police|anyone] [ring|come round] [say|tell them] we [were|was] [watching a \
film|in all night]
[put|keep] [the|that] [bag|stuff] in [the loft|your wardrobe|the shed] for me
""",
    "slip": """
anyone got a motor [{day}|tonight] [night|], need it for a [bit of work|couple hours]
[who's|whos] [about|free] [later|{day}], [need a driver|need a lookout] [lol|]
[not on here|not in the group|text me] [bro|mate|]
[u|you] still [doing|on] that thing [{day}|later]?
""",
}
_REPLIES = {
    "alibi": """
why [what have you done|what did you do]
[I'm not lying for you|not again]
[fine|ok] but [this is the last time|you owe me]
where did [all|] the [money|cash] come from [then|]
[what's|whats] [all that|the] stuff in [the hallway|the boot|your room]?
[seriously|are you serious]?
[ok|fine]
""",
}
_FILLERS = {
    "car": """
[car's|the {car}'s|motor's] [in for|booked in for] [its service|the MOT|a service] {day}
garage [on {street}|] quoted {price} for [the service|brakes|two tyres|the clutch]
[can you|could you] give me a lift [to work|to {place}], [motor's|car's] at the garage
[need|gotta get] new [tyres|brake pads|wipers] on the {car}
[the|my] [{car}|motor|van] [failed|passed] [its|the] MOT [lol|ffs|]
[engine light's|warning light's] on again
[selling|thinking of selling] the {car}, [anyone want it|{price} ono]
[parked|park] [round the corner|on {street}] [cos|as] [no spaces|permit parking]
[who's|whos] got jump leads
[ring|call] the garage on {phone}, [ask for {first}|they're decent]
[getting|got] the {car} [valeted|washed] {day}
[insurance|the insurance] [went up|is] {price} [this year|]
""",
    "job": """
[got|I've got] a job interview [at|with] {job} {day}
[how did|how'd] the [job|interview] go?
[they|the job] [want|wants] me [on nights|to start {day}|in at {time}]
[send|email] [your|ur] CV to {email}
[it's|its] cash in hand[, painting and decorating|, labouring|]
[quit|left] the [job|warehouse] [lol|, done with it|]
[the|my] [job|shift] [finishes|starts] at {time}
[is|are] {job} [hiring|taking people on]? ask {first}
[applied|sent it off] to {email}[, fingers crossed|]
[got the job|they offered me it] [!!|lol|]
[first day|induction] {day}, [need|got to get] [boots|a hi vis]
""",
    "party": """
party at {poss} [on {day}|{day} night|this weekend]
whose [gaff|house|yard] [is it at|we going]
[bring|grab] [drinks|a bottle|ice]
[address|the address] is {num} {street}, {pc}
[postcode's|postcode is] {pc} [for the uber|for your satnav|]
[the|] [neighbours|landlord] called [the police|the council] [lol|about the noise]
[lights|music] off at [midnight|12] [for the cake|lol]
[who's|whos] [driving|got a car] [back|after]?
[that|last night] was [mad|a madness|jokes]
[I'll|ill] [bring|grab] the [speaker|tunes]
[{first}|{name}] [is coming|said they'd come|can't make it] [too|]
[it's|its] {num} {street}¶{pc}¶[buzz flat {num}|side door]
""",
    "market": """
selling my old [telly|ps4|bike|sofa|laptop], {price} ono
[anyone|does anyone] want a [ps4|xbox|telly|fridge]?
[got rid of|sold] the [sofa|bike|telly] on [marketplace|vinted|ebay]
[it's|its] [got|still got] the box and charger
[collection only|can deliver] [from {pc}|]
[wants|want] {price} for it, [bit steep|bargain]
[got|have] some [trainers|phone cases|hoodies] in, want any?
[the|that] [buyer|guy] [never turned up|paid] [lol|ffs|]
[paypal|pay it] to {email}
""",
    "football": """
5s [at|on] {day} [at {time}|], [who's in|who's playing]?
[we need|need] [one more|a keeper|2 more] for {day}
[did you see|you see] the {team} game
{team} [are|were] [shocking|dead|unreal] [today|last night|]
[I'm|im] in
[can't|cant] make it, [working|got work|ankle's done]
[bring|don't forget] [your|the] [bibs|ball|boots]
[pitch|pitches] at [the leisure centre|Powerleague|the cage] [booked|are booked] for {time}
[same time tomorrow?|same time next week?]
[who's|whos] [paying|got] the [pitch|booking] [this week|]
[{first}|{poss} mate] [scored|pulled a hamstring|got sent off] [lol|]
[tickets|got tickets] for {team} {day}?
""",
    "gym": """
gym [later|tonight|at {time}]?
[leg day|chest day|back day] [lol|ffs|]
[same time tomorrow?|same time tmrw?]
[outside|here]
[2|5|10] mins
[skipping|can't do] [today|tonight], [knackered|work]
[on my way|omw]
[new pb|pb] on [bench|deadlift] [today|]
[protein|creatine] [run out|ordered]
""",
    "food": """
[getting|ordering] {food}, [want anything|you want some]?
[who's|whos] [cooking|got dinner] [tonight|]
{food} [at {place}|] [later|after]?
[starving|so hungry] [lol|]
[left|there's] {food} in the fridge
""",
    "banter": """
[lol|lmao|haha|😂😂|💀]
[ye|yeah|yh|ok|k|bet|safe|sound|say less]
[what you saying|wagwan|wyd|you good]
[nothing much|just chilling|at work|in bed] [lol|]
[that's|thats] [mad|jokes|long|peak]
[happy birthday|hbd] {first}[!|🎉|]
[anyone|who's] [out|about] [tonight|later]?
[see|cya] [you|u] [later|in a bit|tomorrow]
[seen|saw] {first} at {place} [earlier|today|]
[is|has] {first} [still coming|replied|got back to you]?
tell {first} [I said hi|to ring me|happy bday]
{name} [is coming|said they'd come|can't make it] [too|]
[what's|whats] the [plan|move] [for|on] {day}?
[so hot|so cold|raining] [today|out] [ffs|lol|]
[{game}|games] [later|tonight]?
[where you|where are you]
[done|sorted]
[on my way|omw]
[you|u] [up|awake]?
[can't|cant] [tonight|today], [skint|busy]
[long day|long week] [ffs|man|]
[{poss} mum|{poss} brother] [said|says] [hi|you owe them a fiver]
""",
    "number": """
[{poss} number|{poss} new number|number for {first}] [is|] {phone}
[new number|my new number], save it: {phone}
[can you|could you] [send me|give me] {poss} number?
{phone}
[ring|call] [the landlord|the council|the doctors|the dentist] on {phone}
[if|] you can't get me ring {phone}
[it's|its] {phone} [I think|]
{name}¶{phone}
[text|whatsapp] {first} on {phone}[, they're expecting you|]
[{first}|{name}] [got|has] a new phone, [number's|it's] {phone}
""",
    "email": """
[my email's|my email is|email me at] {email}
[send it|send the pics|forward it] to {email}
{poss} email is {email}
[is it|it's] {email} or {email}?
[use|try] {email} [instead|]
[the|] [booking|tickets|receipt] [went to|came to] {email}
[can you|could you] [send|forward] it to {poss} email[, {email}|]
""",
    "address": """
[it's|its] {num} {street}, {pc}
[postcode|the postcode] [is|for the satnav is] {pc}
[parcel's|my parcel's|the delivery's] going to {pc}
{num} {street}¶{pc}
[new|my new] address:¶Flat {num}¶{num} {street}¶London¶{pc}
[viewing|looking at] a flat [at|near] {pc} {day}
[meet|see you] at {pc} [at {time}|]
[what's|whats] the postcode [there|for yours]?
[{poss}|{first}] moved to {pc}
""",
    "family": """
[can you|could you] [pick up|grab] [milk|bread|nappies|my prescription] [on the way|]
[ring|call] your [mum|nan|dad], [she's|he's] been trying to get you
[dinner's|tea's] at {time}
[nan's|Nan's] birthday {day}, [don't forget|bring a card]
[the|] [boiler's|washing machine's] [broken|playing up] again
[love you|love u] x
[are you|r u] coming home [tonight|for dinner]?
[doctor's|dentist] [at {time}|{day}]
[landlord|council] [came round|is coming] [about the damp|{day}]
[can you|could you] [have the kids|do the school run] {day}?
{poss} [baby's|little one's] [christening|birthday] {day}
[stop ignoring me|why are you ignoring me]
[thanks|ta] x
""",
}
# Slot values ("|" between options).
_FIELDS = {
    "day": (
        "monday|tuesday|weds|thurs|friday|sat|sunday|tomorrow|the weekend|Saturday|Friday|next week"
    ),
    "time": "10|half 11|2am|11ish|21:30|midnight|1|3|4am|8|9pm",
    "item": (
        "the laptops|the gold|the tellys|the console|the jewellery|the watch"
        "|the tablets|the tools|the bikes|the ipad|the rings|the tech"
    ),
    "car": ("Golf|Astra|Corsa|Focus|Fiesta|Clio|Polo|Transit|van|Civic|Yaris|Octavia|Insignia"),
    "place": (
        "the chicken shop|Tesco|the gym|Spoons|the park|the station|the barbers"
        "|Nando's|the bookies|the retail park|the car wash|Lidl"
    ),
    "food": "chicken|pizza|a kebab|maccies|nandos|a curry|Chinese|wings",
    "team": "Arsenal|Chelsea|Palace|Spurs|Millwall|Charlton|Brentford",
    "game": "FIFA|COD|Fortnite|GTA|2K",
    "job": (
        "the warehouse|Amazon|the building site|Tesco|the call centre"
        "|Royal Mail|the scaffolders|the depot"
    ),
    "group": "Sunday 5s ⚽|The Mandem|Lads 🍻|Estate Boys|Ballers|No Wives",
    "mailbox": ("jobs|recruitment|bookings|info|hr.team|lettings|hello|accounts|careers|repairs"),
}


def _pools(texts: dict[str, str]) -> dict[str, list[str]]:
    return {k: [s.strip() for s in v.strip().splitlines() if s.strip()] for k, v in texts.items()}


RELEVANT = _pools(_RELEVANT)
REPLIES = _pools(_REPLIES)
FILLERS = _pools(_FILLERS)
FIELDS = {k: v.split("|") for k, v in _FIELDS.items()}
# Each chat's everyday topics, with weights.
_TOPICS = {
    role: {t.split("=")[0]: float(t.split("=")[1]) for t in spec.split()}
    for role, spec in {
        "friends": "banter=3 football=2 party=2 food=1 car=1 job=1 number=1.3 gym=0.5 market=0.5 "
        "address=0.5 email=0.5",
        "accomplice": "banter=3 football=1 gym=1.5 car=1.5 food=1 party=1 number=0.7 email=0.3",
        "fence": "banter=2 market=3 car=1 number=1 email=0.7 address=1",
        "partner": "family=3 banter=2 food=1 address=2 email=1.5 job=1 number=1 party=1 market=0.5",
        "family": "family=3 banter=1 address=1.5 number=1.5 email=1 car=0.5",
        "work": "car=2 job=2 gym=2 banter=2 football=1 email=1.3 number=0.5",
        "party": "banter=2 party=2 food=1 market=1 number=1 address=1 email=0.5",
    }.items()
}
_HOURS = np.array([3, 2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 3, 4, 5, 5, 4, 4, 5, 6, 7, 8, 9, 9, 8, 5])
_ALT = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{(\w+)\}")
_ABBREV = [
    (re.compile(r"\byou\b"), "u"),
    (re.compile(r"\byour\b"), "ur"),
    (re.compile(r"\btomorrow\b"), "tmrw"),
    (re.compile(r"\bbecause\b"), "cos"),
    (re.compile(r"\bI'm\b"), "im"),
    (re.compile(r"\bdon't\b"), "dont"),
    (re.compile(r"\bthat's\b"), "thats"),
]
_MEDIA = {"android": "<Media omitted>", "iphone": "\u200eimage omitted"}
_DOMAINS = ["example.com", "example.org", "example.net"]
_KIND = {"phone": "phone", "email": "email", "pc": "postcode"}


@dataclass
class _Contact:
    person: int
    forename: str
    surname: str
    phone: str  # as saved in the phone
    suffix: int  # the number is 07700 900<suffix>
    email: str

    @property
    def name(self) -> str:
        return f"{self.forename} {self.surname}"


@dataclass
class _Msg:
    at: datetime
    sender: str | None  # None: a system line
    text: str
    relevant: bool = False
    pii: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Chat:
    role: str
    title: str
    layout: str  # android or iphone
    members: list[int]  # contacts (the owner is in every chat)
    weight: float
    sessions: list[list[_Msg]] = field(default_factory=list)


def _vocabulary(streets: list[str]) -> set[str]:
    """Every word the templates and lists can write."""
    texts = [t for pools in (_RELEVANT, _REPLIES, _FILLERS) for t in pools.values()]
    texts += [*_FIELDS.values(), *streets]
    texts += ["created group added you left changed the subject from to this icon tap learn"]
    texts += [ENCRYPTED, "media omitted image message was deleted family"]
    return {w for t in texts for w in re.findall(r"[a-z]+", t.lower())}


def _email(rng: np.random.Generator, forename: str, surname: str) -> str:
    f = re.sub(r"[^a-z]", "", forename.lower()) or "x"
    s = re.sub(r"[^a-z]", "", surname.lower()) or "x"
    yy = int(rng.integers(80, 106)) % 100
    forms = [f"{f}.{s}", f"{f}{s}{yy:02d}", f"{f[0]}.{s}", f"{s}{f[0]}", f"{f}_{s}", f"{f}{yy:02d}"]
    local = forms[int(rng.integers(len(forms)))]
    return f"{local}@{_DOMAINS[int(rng.integers(3))]}"


class _Writer:
    """Fills templates from one case's contacts, streets and postcodes."""

    def __init__(
        self,
        rng: np.random.Generator,
        contacts: list[_Contact],
        streets: list[str],
        postcodes: list[str],
    ) -> None:
        self.rng = rng
        self.contacts = contacts
        self.fields = dict(FIELDS, street=streets)
        self.postcodes = postcodes
        used = {c.suffix for c in contacts}
        self.spare = [n for n in range(1000) if n not in used]

    def pick(self, options: list[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def contact(self) -> _Contact:
        return self.contacts[int(self.rng.integers(len(self.contacts)))]

    def phone(self) -> str:
        """A drama-range number as people type it: a contact's mobile or another number."""
        r = self.rng
        n = self.contact().suffix if r.random() < 0.6 else self.spare[int(r.integers(900))]
        if r.random() < 0.7:
            forms = ["07700 900{n}", "07700900{n}", "+44 7700 900{n}", "+447700900{n}"]
            forms += ["07700 900{n}", "07700 900 {n}"]
            return self.pick(forms).format(n=f"{n:03d}")
        area, local = self.pick(["020|7946", "0113|496", "0161|496"]).split("|")
        forms = ["{a} {l} 0{n}", "({a}) {l} 0{n}", "{a}{l}0{n}", "+44 {s} {l} 0{n}"]
        return self.pick(forms).format(a=area, s=area[1:], l=local, n=f"{n:03d}")

    def email(self) -> str:
        r = self.rng
        if r.random() < 0.25:
            return f"{self.pick(self.fields['mailbox'])}@{self.pick(_DOMAINS)}"
        c = self.contact()
        e = c.email if c.email and r.random() < 0.7 else _email(r, c.forename, c.surname)
        if r.random() < 0.1:
            local, dom = e.split("@")
            e = f"{local.title()}@{dom}"
        return e

    def postcode(self) -> str:
        pc = self.pick(self.postcodes)
        u = self.rng.random()
        if u < 0.2:
            return pc.replace(" ", "")
        if u < 0.3:
            return pc.lower()
        if u < 0.35:
            return pc.replace(" ", "").lower()
        return pc

    def fill(self, template: str) -> tuple[str, list[tuple[str, str]]]:
        """The template written out, and the personal data in it as (kind, value)."""
        r = self.rng
        t = _ALT.sub(lambda m: self.pick(m.group(1).split("|")), template)
        t = re.sub(r" {2,}", " ", t).strip().replace(" ,", ",").replace(" ?", "?")
        if r.random() < 0.35:
            for pat, short in _ABBREV:
                t = pat.sub(short, t)
        u = r.random()
        if u < 0.35:
            t = t.lower()
        elif u < 0.6:
            t = t[:1].upper() + t[1:]
        pii: list[tuple[str, str]] = []

        def slot(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in ("first", "name", "poss"):
                c = self.contact()
                v = c.name if name == "name" else c.forename
                if name == "first" and r.random() < 0.08:
                    v = v.lower()
                pii.append(("name", v))
                return v + "'s" if name == "poss" else v
            if name == "num":
                return str(int(r.integers(1, 140)))
            if name == "price":
                n = int(r.integers(3, 90)) * 10
                return self.pick([f"£{n}", f"{n}", f"{n} quid", f"£{n}"])
            if name not in _KIND:
                return self.pick(self.fields[name])
            v = self.phone() if name == "phone" else self.email() if name == "email" else ""
            v = v or self.postcode()
            pii.append((_KIND[name], v))
            return v

        return _SLOT.sub(slot, t).replace("¶", "\n"), pii

    def turns(
        self,
        chat: _Chat,
        start: datetime,
        pool: list[str],
        n: int,
        speakers: list[str],
        *,
        relevant: bool,
        media: float = 0.0,
        gap_minutes: float = 3.0,
    ) -> list[_Msg]:
        """n messages of one conversation from `pool`, the speakers taking turns."""
        r = self.rng
        out: list[_Msg] = []
        at = start
        who = int(r.integers(len(speakers)))
        order = r.permutation(len(pool))  # no template twice in one conversation
        for i in range(n):
            if r.random() < 0.7:
                who = (who + 1 + int(r.integers(len(speakers) - 1))) % len(speakers)
            at += timedelta(seconds=int(10 + r.exponential(gap_minutes * 60)))
            if r.random() < media:
                out.append(_Msg(at, speakers[who], _MEDIA[chat.layout]))
            elif not relevant and r.random() < 0.006:
                out.append(_Msg(at, speakers[who], "This message was deleted"))
            else:
                text, pii = self.fill(pool[order[i % len(pool)]])
                out.append(_Msg(at, speakers[who], text, relevant, pii))
        return out


def _series_nights(
    p: Params, crimes: Crimes, series: Series, rng: np.random.Generator
) -> tuple[int, list[int], list[datetime]]:
    """The first burglary series (or the first series), its crimes and their middle times."""
    s = next((i for i, c in enumerate(series.ctype) if c == "burglary"), 0)
    idx = [int(i) for i in np.flatnonzero(crimes.series == s)]
    mids = [int(crimes.t_from[i] + (crimes.t_to[i] - crimes.t_from[i]) // 2) for i in idx]
    idx = [i for _, i in sorted(zip(mids, idx, strict=True))]
    nights = [datetime(1970, 1, 1) + timedelta(seconds=x) for x in sorted(mids)]
    if not nights:  # a series without crimes: made-up nights in the middle of the year
        mid = datetime(p.start.year, p.start.month, p.start.day) + timedelta(days=150)
        days = sorted(int(d) for d in rng.choice(60, 6, replace=False))
        nights = [mid + timedelta(days=d, hours=1) for d in days]
    return s, idx, nights


def _contacts(
    rng: np.random.Generator, people: People, owner: int, first: list[int], n: int, ok: Any
) -> list[_Contact]:
    """The owner's contacts: `first` (accomplice, handler, household) then other residents,
    passing over names that `ok` refuses and forenames already taken."""
    seen = {str(people.forename[owner]).lower()}
    out: list[_Contact] = []
    suffixes = rng.permutation(1000)
    residents = np.flatnonzero(people.resident)
    for i in [*first, *(int(x) for x in rng.permutation(residents)[: n * 5])]:
        if len(out) >= n or i == owner or any(c.person == i for c in out) or not ok(i):
            continue
        f, s = str(people.forename[i]), str(people.surname[i])
        if f.lower() in seen:
            continue
        seen.add(f.lower())
        k = int(suffixes[len(out)])
        saved = f"07700 900{k:03d}" if rng.random() < 0.6 else f"+44 7700 900{k:03d}"
        mail = _email(rng, f, s) if rng.random() < 0.6 else ""
        out.append(_Contact(i, f, s, saved, k, mail))
    return out


def write_phone_case(
    out: Path,
    rng: np.random.Generator,
    *,
    p: Params,
    people: People,
    addr: Addresses,
    crimes: Crimes,
    series: Series,
) -> dict[str, Any]:
    """Write the case's phone under `out/exports/evidence/DEMO-DISC-1/` (chat-<n>.txt,
    contacts.csv) and its truth under `out/truth/evidence/DEMO-DISC-1/` (relevant.csv,
    pii.csv, case.json); returns the counts for the city's manifest."""
    si, crime_idx, nights = _series_nights(p, crimes, series, rng)
    streets = sorted({str(s) for s in rng.choice(np.unique(addr.street[addr.inside]), 30)})
    vocab = _vocabulary(streets)

    def ok(i: int) -> bool:
        f, s = str(people.forename[i]), str(people.surname[i])
        words = re.findall(r"[a-z]+", f"{f} {s}".lower())
        one_word = all(re.fullmatch(r"[A-Za-z'-]+", x) for x in (f, s))
        return bool(one_word) and not any(w in vocab for w in words)

    offenders = [int(x) for x in np.flatnonzero(people.offender & people.resident)]
    owner = int(series.offender[si]) if series.offender else offenders[0]
    co = int(series.co_offender[si]) if series.co_offender else -1
    # The accomplice (the series' co-offender if it has one) and the handler: offenders whose
    # forenames differ from each other's and the owner's, so both become contacts 0 and 1.
    first_names = {str(people.forename[owner])}
    co_is_series = co >= 0 and ok(co) and str(people.forename[co]) not in first_names
    others = [x for x in rng.permutation(offenders).tolist() if x not in (owner, co) and ok(x)]
    if not co_is_series:
        co = next(x for x in others if str(people.forename[x]) not in first_names)
    first_names.add(str(people.forename[co]))
    fence = next(x for x in others if x != co and str(people.forename[x]) not in first_names)
    # The owner's household, twelve and over.
    born_by = np.datetime64(p.start, "D") - np.timedelta64(12 * 365, "D")
    home = np.flatnonzero((people.household == people.household[owner]) & (people.dob <= born_by))
    family = [int(x) for x in home if int(x) not in (owner, co, fence)]
    contacts = _contacts(rng, people, owner, [co, fence, *family], int(rng.integers(45, 70)), ok)
    assert contacts[0].person == co and contacts[1].person == fence
    owner_name = f"{people.forename[owner]} {people.surname[owner]}"
    homes = sorted({str(addr.postcode[people.address[c.person]]) for c in contacts})
    city_pcs = np.unique(addr.postcode[addr.inside].astype(str))
    w = _Writer(rng, contacts, streets, homes + [str(x) for x in rng.choice(city_pcs, 40)])
    k_co, k_fence = 0, 1  # `first` went in first, and both passed `ok`
    fam = [k for k, c in enumerate(contacts) if c.person in family][:3]
    rest = [k for k in range(len(contacts)) if k not in (k_co, k_fence, *fam)]
    partner, mate_a, mate_b = rest[0], rest[1], rest[2]
    relative = fam[0] if fam else rest[3]
    relatives = sorted({*fam, partner, relative, *rest[11:14]})
    chats = [
        _Chat(
            "friends", w.pick(FIELDS["group"]), "android", [mate_a, k_co, mate_b, *rest[4:11]], 0.3
        ),
        _Chat("accomplice", "", "android", [k_co], 0.12),
        _Chat("fence", "", "iphone", [k_fence], 0.08),
        _Chat("partner", "", "android", [partner], 0.16),
        _Chat("family", "Family 🏠", "android", relatives, 0.10),
        _Chat("work", "", "android", [mate_a], 0.10),
        _Chat("party", "", "android", [mate_b], 0.08),
        _Chat("family", "", "android", [relative], 0.06),
    ]
    for c in chats:
        c.title = c.title or contacts[c.members[0]].name
    unsaved = f"+44 7700 900{w.spare.pop(int(rng.integers(len(w.spare)))):03d}"

    def speakers(chat: _Chat) -> list[str]:
        names = [owner_name] + [contacts[m].name for m in chat.members]
        return [*names, unsaved] if chat.role == "friends" else names

    # The phone's period: some weeks either side of the series, within the synthetic year.
    day0 = datetime(p.start.year, p.start.month, p.start.day)
    end = np.datetime64(p.start, "M") + np.timedelta64(p.months, "M")
    year_end = datetime.fromisoformat(str(end.astype("datetime64[D]"))) - timedelta(hours=1)
    t0 = max(day0, nights[0] - timedelta(days=int(rng.integers(35, 60))))
    t0 = datetime(t0.year, t0.month, t0.day)  # the chats open that day, before anything else
    t1 = min(year_end, nights[-1] + timedelta(days=int(rng.integers(25, 45))))
    if (t1 - t0).days < 90:
        t0, t1 = max(day0, t0 - timedelta(days=50)), min(year_end, t1 + timedelta(days=50))

    n_total = int(rng.integers(3000, 4200))
    n_rel = round(n_total * rng.uniform(0.03, 0.042))
    by_role = {c.role: c for c in chats}
    for step, t, n in _episodes(rng, nights, n_rel):
        role, kind, (h0, h1), _, gap = step
        chat = by_role[role]
        at = max(t0 + timedelta(days=1), t + timedelta(hours=float(rng.uniform(h0, h1))))
        who = [owner_name, contacts[k_co].name] if kind == "slip" else speakers(chat)
        msgs = w.turns(chat, at, RELEVANT[kind], n, who, relevant=True, gap_minutes=gap)
        if kind == "alibi":  # the partner's side of it is relevant too
            for m in msgs:
                if m.sender != owner_name:
                    m.text, m.pii = w.fill(w.pick(REPLIES["alibi"]))
        if rng.random() < 0.4:  # drifting back to everyday talk
            more = int(rng.integers(1, 4))
            msgs += w.turns(chat, msgs[-1].at, FILLERS["banter"], more, who, relevant=False)
        chat.sessions.append(msgs)
    have = sum(len(m) for c in chats for m in c.sessions) + _system_lines(
        chats, contacts, w, t0, t1, unsaved
    )
    # Everyday talk fills the phone up to its size.
    weights = np.array([c.weight for c in chats])
    span = (t1 - t0).total_seconds() - 86400
    hours = _HOURS / _HOURS.sum()
    while have < n_total:
        c = chats[int(rng.choice(len(chats), p=weights / weights.sum()))]
        topics = _TOPICS[c.role]
        names = list(topics)
        tw = np.array([topics[k] for k in names])
        topic = names[int(rng.choice(len(names), p=tw / tw.sum()))]
        day = t0 + timedelta(seconds=86400 + float(rng.uniform(0, span)))
        at = day.replace(hour=int(rng.choice(24, p=hours)), minute=int(rng.integers(60)))
        n = min(int(rng.integers(2, 12)), n_total - have)
        c.sessions.append(
            w.turns(c, at, FILLERS[topic], n, speakers(c), relevant=False, media=0.06)
        )
        have += n
    files = [f"chat-{i + 1}.txt" for i in rng.permutation(len(chats))]
    case = dict(
        reference=CASE_REFERENCE,
        directory=CASE_DIR,
        synthetic=True,
        owner=dict(display_name=owner_name, person_id=owner),
        accomplice=dict(
            display_name=contacts[k_co].name, person_id=co, series_co_offender=co_is_series
        ),
        handler=dict(display_name=contacts[k_fence].name, person_id=fence),
        offence=(
            f"A series of {len(nights)} residential burglaries between {nights[0]:%d/%m/%Y} and "
            f"{nights[-1]:%d/%m/%Y}: the owner and an accomplice pick empty houses, drive to them "
            "in a borrowed car, sell the goods through a handler and ask for alibis."
        ),
        series_id=si,
        crime_refs=[str(crimes.ref[i]) for i in crime_idx],
        period=dict(start=t0.isoformat(), end=t1.isoformat()),
    )
    return _write(out, chats, files, contacts, case)


# (chat, episode, hours from the night, messages, mean minutes between them)
_STEPS: list[tuple[str, str, tuple[float, float], tuple[int, int], float]] = [
    ("accomplice", "plan", (-70, -20), (4, 9), 8.0),
    ("accomplice", "night", (-1.2, -0.3), (2, 5), 4.0),
    ("fence", "sell", (8, 72), (3, 7), 10.0),
    ("accomplice", "after", (14, 140), (2, 5), 15.0),
    ("partner", "alibi", (14, 96), (2, 4), 6.0),
    ("friends", "slip", (-140, -48), (1, 2), 5.0),
]


def _episodes(
    rng: np.random.Generator, nights: list[datetime], n_rel: int
) -> list[tuple[Any, datetime, int]]:
    """(step, night, messages) for every relevant conversation, n_rel messages in all: each
    night gets its planning, the night itself, selling on and aftermath (and maybe an alibi
    and a slip in the group); more of the first four if that is not enough; then the sizes
    are scaled to n_rel exactly."""
    eps: list[tuple[Any, datetime, int]] = []
    for t in nights:
        for step in _STEPS:
            if step[1] in ("alibi", "slip") and rng.random() < 0.5:
                continue
            eps.append((step, t, int(rng.integers(step[3][0], step[3][1] + 1))))
    while sum(e[2] for e in eps) < n_rel:
        step = _STEPS[int(rng.integers(4))]
        t = nights[int(rng.integers(len(nights)))]
        eps.append((step, t, int(rng.integers(step[3][0], step[3][1] + 1))))
    while len(eps) > n_rel:
        eps.pop(int(rng.integers(len(eps))))
    sizes = np.array([e[2] for e in eps], dtype=float)
    n = np.maximum(1, np.floor(sizes * n_rel / sizes.sum())).astype(int)
    while n.sum() < n_rel:
        n[int(rng.integers(len(n)))] += 1
    while n.sum() > n_rel:
        big = np.flatnonzero(n > 1)
        n[int(rng.choice(big))] -= 1
    return [(step, t, int(k)) for (step, t, _), k in zip(eps, n, strict=True)]


def _system_lines(
    chats: list[_Chat],
    contacts: list[_Contact],
    w: _Writer,
    t0: datetime,
    t1: datetime,
    unsaved: str,
) -> int:
    """The encryption notice opening every chat on its first day, and the groups' history
    (the friends' group has a member the phone has not saved); returns how many lines."""
    n = 0
    for c in chats:
        at = t0 + timedelta(minutes=int(w.rng.integers(8 * 60, 20 * 60)))
        if c.layout == "iphone":  # iPhone puts the notice under the other person's name
            first = [_Msg(at, contacts[c.members[0]].name, "\u200e" + ENCRYPTED)]
        else:
            first = [_Msg(at, None, ENCRYPTED + " Tap to learn more.")]
        if len(c.members) > 1:
            a = contacts[c.members[0]]
            first.append(
                _Msg(at, None, f'{a.name} created group "{c.title}"', pii=[("name", a.name)])
            )
            first.append(_Msg(at, None, f"{a.name} added you", pii=[("name", a.name)]))
            for m in c.members[1:]:
                other = contacts[m].name
                first.append(
                    _Msg(
                        at, None, f"{a.name} added {other}", pii=[("name", a.name), ("name", other)]
                    )
                )
            if c.role == "friends":
                pii = [("name", a.name), ("phone", unsaved)]
                first.append(_Msg(at, None, f"{a.name} added {unsaved}", pii=pii))
        c.sessions.append(first)
        n += len(first)
        if c.role != "friends":
            continue
        a, b = contacts[c.members[0]], contacts[c.members[-1]]
        at = t0 + (t1 - t0) / 3
        new = w.pick(FIELDS["group"])
        later = [
            (f"{b.name} left", [("name", b.name)]),
            (f'{a.name} changed the subject from "{c.title}" to "{new}"', [("name", a.name)]),
            (f"{a.name} changed this group's icon", [("name", a.name)]),
        ]
        for k, (text, pii) in enumerate(later):
            c.sessions.append([_Msg(at + timedelta(days=23 * k, minutes=7), None, text, pii=pii)])
        n += len(later)
    return n


def _stamp(layout: str, at: datetime) -> str:
    if layout == "iphone":
        return f"[{at:%d/%m/%Y, %H:%M:%S}] "
    return f"{at:%d/%m/%Y, %H:%M} - "


def _write(
    out: Path, chats: list[_Chat], files: list[str], contacts: list[_Contact], case: dict[str, Any]
) -> dict[str, Any]:
    ev = out / "exports" / "evidence" / CASE_DIR
    tr = out / "truth" / "evidence" / CASE_DIR
    ev.mkdir(parents=True, exist_ok=True)
    tr.mkdir(parents=True, exist_ok=True)
    relevant: list[tuple[str, int, int]] = []
    pii: list[tuple[str, int, str, str]] = []
    about = []
    for chat, name in sorted(zip(chats, files, strict=True), key=lambda x: int(x[1][5:-4])):
        # Conversations in time order, each starting after the one before has ended.
        lines: list[str] = []
        last: datetime | None = None
        n_rel = 0
        for session in sorted(chat.sessions, key=lambda s: s[0].at):
            if last is not None and session[0].at <= last:
                shift = last - session[0].at + timedelta(seconds=40)
                for m in session:
                    m.at += shift
            for m in session:
                line = len(lines) + 1
                head = _stamp(chat.layout, m.at) + (f"{m.sender}: " if m.sender else "")
                lines += (head + m.text).split("\n")
                relevant.append((name, line, int(m.relevant)))
                pii += [(name, line, kind, value) for kind, value in m.pii]
                n_rel += m.relevant
            last = session[-1].at
        (ev / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        about.append(
            dict(
                file=name,
                title=chat.title,
                layout=chat.layout,
                group=len(chat.members) > 1,
                participants=[contacts[m].name for m in chat.members],
                messages=sum(len(s) for s in chat.sessions),
                relevant=n_rel,
            )
        )
    _csv(
        ev / "contacts.csv",
        ["name", "phone", "email"],
        sorted((c.name, c.phone, c.email) for c in contacts),
    )
    _csv(tr / "relevant.csv", ["file", "line", "relevant"], relevant)
    _csv(tr / "pii.csv", ["file", "line", "kind", "value"], pii)
    kinds = ("phone", "email", "postcode", "name")
    counts = dict(
        reference=CASE_REFERENCE,
        chats=len(chats),
        contacts=len(contacts),
        messages=len(relevant),
        relevant=sum(r for *_, r in relevant),
        pii={k: sum(1 for x in pii if x[2] == k) for k in kinds},
    )
    case.update(chats=about, counts=counts)
    (tr / "case.json").write_text(
        json.dumps(case, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return counts


def _csv(path: Path, header: list[str], rows: Any) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


__all__ = ["CASE_DIR", "CASE_REFERENCE", "write_phone_case"]
