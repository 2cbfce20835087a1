"""Who may do what to a training or a run: the teacher key and the owner rules.

A name is a label, not a login: a student types it once per browser session and every training they start carries
it. With no teacher key configured, the app is one person's tool and everyone may do everything, as before there was a
class. With a key (`CIFAR_CNN_TEACHER_KEY`, or the app's Streamlit secrets), whoever enters it is the teacher and may
stop, cancel or delete anything and change how many trainings run at once; a student may stop or cancel only their
own jobs and delete only their own runs, and must give a name before training.

The key is compared in constant time (`hmac.compare_digest`), so the time an answer takes says nothing about how much
of a guess was right; it is never logged, shown or kept in the page's URL.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

KEY_VARIABLE = "CIFAR_CNN_TEACHER_KEY"
# Trainings one student may have waiting or running at once when a teacher key is set: a sweep of ten fits, a loop
# of clicks cannot fill the class's queue.
MAX_UNFINISHED_PER_STUDENT = 10


def configured_key(secrets_key: str | None = None) -> str:
    """The teacher key: `CIFAR_CNN_TEACHER_KEY` from the environment, else the one from the app's secrets; "" for none.
    Surrounding spaces are not part of a key (an editor's stray newline must not lock the teacher out)."""
    return (os.environ.get(KEY_VARIABLE) or secrets_key or "").strip()


def key_matches(entered: str, key: str) -> bool:
    """Whether `entered` is the teacher key, in time that does not depend on how much of it matches."""
    if not key or not isinstance(entered, str):
        return False
    return hmac.compare_digest(entered.strip().encode("utf-8"), key.encode("utf-8"))


@dataclass(frozen=True)
class Visitor:
    """One browser session: the name it gave ("" for none), whether it entered the teacher key, whether a key exists."""

    name: str = ""
    is_teacher: bool = False
    key_configured: bool = False

    @property
    def single_user(self) -> bool:
        """No teacher key: the app is one person's, with no owner rules."""
        return not self.key_configured

    def may_control(self, owner: str) -> bool:
        """May this visitor stop, cancel or delete what `owner` started?"""
        return self.single_user or self.is_teacher or (bool(self.name) and owner == self.name)

    def training_refusal(self, unfinished_jobs: int = 0, new_jobs: int = 1) -> str:
        """Why this visitor may not queue `new_jobs` more trainings now ("" when they may)."""
        if self.single_user or self.is_teacher:
            return ""
        if not self.name:
            return "Enter your name in the sidebar (under You) first: every training of the class carries its owner's name."
        if unfinished_jobs + new_jobs > MAX_UNFINISHED_PER_STUDENT:
            return (f"You have {unfinished_jobs} training{'s' if unfinished_jobs != 1 else ''} waiting or running; a student may have at "
                    f"most {MAX_UNFINISHED_PER_STUDENT} at once. Wait for some to finish, or cancel some.")
        return ""
