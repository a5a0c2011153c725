"""Privacy: erasing a member everywhere their personal data was copied (the member document and
the export are app/members/erase.py's)."""

from app.privacy.erase import UNFINISHED_AFTER, erase_member, finish_erasures

__all__ = ["UNFINISHED_AFTER", "erase_member", "finish_erasures"]
