"""The one shape every reader of case material produces: an `Item` (a message, a call, an
e-mail, a record), and the bytes that identify it.

An item's identity is the SHA-256 of its canonical bytes: its content fields as compact JSON
with sorted keys, UTF-8 (`canonical`), never where it was found. Two items with the same
content are exact duplicates (the same e-mail in two mailboxes, a message exported twice);
where they were found is kept separately, as occurrences, by the case store.

Readers never raise on bad input: they yield the good items and append a `Problem` (file
line and reason, never the text) for each part they could not read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peel.evidence.chats import ChatMessage, Problem

KINDS = ("chat", "sms", "call", "email", "record")


@dataclass(frozen=True)
class Attachment:
    """An attachment as listed: its name, declared type, size and the SHA-256 of its bytes.
    Attachments are listed, not text-reviewed (the review record says how many)."""

    name: str
    content_type: str
    size: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Item:
    """One piece of case material.

    - `kind`: one of KINDS.
    - `conversation`: what groups it for the conversation view: the chat's name, the other
      party of an SMS or call, an e-mail's thread (set by the store from Message-ID,
      In-Reply-To and References), a record's `conversation` field.
    - `sent_at`: the time as read (naive local time where the source gives no zone), or None
      when the source gave none; `sent_text` is the time as written.
    - `sender`, `recipients`: as written (a name, a number or an address).
    - `subject`: e-mail subject ("" elsewhere); `text`: the body (for a call, a one-line
      description: direction and duration).
    - `line`: the 1-based line of the source file where the item starts (the record's number
      for a source without lines).
    - `attachments`: listed, with their hashes.
    - `meta`: other fields as sorted (name, value) pairs: message_id, in_reply_to,
      references, direction, duration_seconds, media ...
    """

    kind: str
    conversation: str
    sent_at: datetime | None
    sent_text: str
    sender: str | None
    recipients: tuple[str, ...]
    subject: str
    text: str
    line: int
    attachments: tuple[Attachment, ...] = ()
    meta: tuple[tuple[str, str], ...] = ()

    def content(self) -> dict[str, Any]:
        """The fields that make the item what it is (not where it was found)."""
        return {
            "kind": self.kind,
            "conversation": self.conversation,
            "sent_at": self.sent_at.isoformat() if self.sent_at is not None else None,
            "sent_text": self.sent_text,
            "sender": self.sender,
            "recipients": list(self.recipients),
            "subject": self.subject,
            "text": self.text,
            "attachments": [a.as_dict() for a in self.attachments],
            "meta": dict(self.meta),
        }

    def canonical(self) -> bytes:
        return canonical_bytes(self.content())

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()

    def meta_value(self, name: str) -> str | None:
        for k, v in self.meta:
            if k == name:
                return v
        return None


def canonical_bytes(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def from_content(content: dict[str, Any], line: int = 0) -> Item:
    """The item whose `content()` is `content` (as stored by the case store)."""
    at = content.get("sent_at")
    return Item(
        kind=content["kind"],
        conversation=content["conversation"],
        sent_at=datetime.fromisoformat(at) if at else None,
        sent_text=content["sent_text"],
        sender=content["sender"],
        recipients=tuple(content["recipients"]),
        subject=content["subject"],
        text=content["text"],
        line=line,
        attachments=tuple(Attachment(**a) for a in content["attachments"]),
        meta=tuple(sorted(content["meta"].items())),
    )


def from_chat(message: ChatMessage, conversation: str) -> Item:
    """A WhatsApp message as an item; `media` and `system` lines keep their kind in meta."""
    meta: tuple[tuple[str, str], ...] = ()
    if message.kind != "message":
        meta = (("chat_line", message.kind),)
    return Item(
        kind="chat",
        conversation=conversation,
        sent_at=message.sent_at,
        sent_text=message.sent_text,
        sender=message.sender,
        recipients=(),
        subject="",
        text=message.text,
        line=message.line,
        meta=meta,
    )


__all__ = [
    "KINDS",
    "Attachment",
    "Item",
    "Problem",
    "canonical_bytes",
    "from_chat",
    "from_content",
]
