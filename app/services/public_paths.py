"""Messages users see name paths relative to the data root, never the server's own paths.

A run's error, an upload's skip reasons and its `upload-report.json` reach every user; the
absolute path of the data root, of an upload's staging folder or of where an admin's link
points tells an attacker the server's layout and nothing a user can act on. The full
message stays in the log, for admins.
"""

from __future__ import annotations

import re
from pathlib import Path

# An absolute POSIX path that is not part of a URL, a relative path or a fraction ("1/3").
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s'\"(),;:/]+/)*[^\s'\"(),;:/]+")
HIDDEN = "<server path>"


def relative_message(message: str, root: Path, *, root_name: str = "the data root") -> str:
    """`message` with paths under `root` made relative to it and any other absolute path hidden.

    Args:
        message: text that may name files by absolute path (an exception's, a decoder's).
        root: the folder the user knows (the data root, or an upload's own tree).
        root_name: how `root` itself is called where the message names it alone.
    """
    for prefix in sorted({str(root), str(root.resolve())}, key=len, reverse=True):
        message = message.replace(prefix + "/", "").replace(prefix, root_name)
    message = message.replace(f"{root_name} {root_name}", root_name)  # "outside the data root <root>"
    return _ABSOLUTE_PATH.sub(HIDDEN, message)
