"""Lateness, from the `submission_metadata.json` that Gradescope writes beside each submission.

Gradescope (not the student) writes /autograder/submission_metadata.json with `created_at`, the
submission's time, and `assignment.due_date`; each of `users` may carry an `assignment` of its own
whose `due_date` is that student's (an extension). The due date that counts is the latest of the
submitters' own, else the assignment's. A file that is missing or not of this form gives no
lateness at all (None): lateness is never guessed.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Lateness:
    submitted_at: datetime
    due_date: datetime

    @property
    def seconds_late(self):
        return max(0, int((self.submitted_at - self.due_date).total_seconds()))

    @property
    def late(self):
        return self.submitted_at > self.due_date

    def extra_data(self):
        """For results.json's `extra_data`, where Gradescope keeps it for the teacher's exports."""
        return {"late": self.late, "seconds_late": self.seconds_late,
                "due_date": self.due_date.isoformat(), "submitted_at": self.submitted_at.isoformat()}

    def line(self):
        """The Japanese sentence for the student when the submission was late; None when it was on time."""
        if not self.late:
            return None
        return f"締め切り（{shown_time(self.due_date)}）より {_duration(self.seconds_late)}遅れて提出されました。"


def shown_time(moment):
    return moment.isoformat(sep=" ", timespec="minutes")


def _duration(seconds):
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    parts = [f"{value} {unit}" for value, unit in ((days, "日"), (hours, "時間"), (minutes, "分")) if value]
    return " ".join(parts) or "1 分足らず"


def read_lateness(path):
    """The Lateness that the metadata file at `path` states, or None when it is missing or not of Gradescope's form."""
    try:
        metadata = json.loads(Path(path).read_text(encoding="utf-8"))
        own = [user["assignment"]["due_date"] for user in metadata.get("users") or [] if (user.get("assignment") or {}).get("due_date")]
        submitted = datetime.fromisoformat(metadata["created_at"])
        due = max(datetime.fromisoformat(text) for text in own or [metadata["assignment"]["due_date"]])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if submitted.tzinfo is None or due.tzinfo is None:  # a time without its zone cannot be compared with another
        return None
    return Lateness(submitted, due)
