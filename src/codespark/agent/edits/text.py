"""File text as a list of lines that remembers its line-ending style.

Edits work on line contents only; this module puts the original endings,
trailing-newline presence and BOM back, so a CRLF file stays CRLF and an
untouched line keeps its exact bytes.
"""

from __future__ import annotations

from .errors import BinaryFileError

BOM = "\ufeff"
SNIFF_BYTES = 8192  # same window git uses to call a file binary


def decode_text(path: str, data: bytes) -> str:
    if b"\0" in data[:SNIFF_BYTES]:
        raise BinaryFileError(path, "it contains NUL bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BinaryFileError(path, f"invalid UTF-8 at byte {exc.start}") from None


def split_lines(text: str) -> list[str]:
    """Lines without endings; a final newline does not start an extra empty line."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


class Doc:
    def __init__(self, lines: list[str], eols: list[str], eol: str, trailing: bool, bom: str) -> None:
        self.lines = lines
        self.eols = eols  # per-line ending, kept so untouched lines round-trip exactly
        self.eol = eol  # the file's dominant ending, used for new lines
        self.trailing = trailing  # whether the file ends with a newline
        self.bom = bom

    @classmethod
    def from_text(cls, text: str) -> Doc:
        bom = BOM if text.startswith(BOM) else ""
        text = text[len(bom):]
        lines: list[str] = []
        eols: list[str] = []
        parts = text.split("\n")
        for part in parts[:-1]:
            if part.endswith("\r"):
                lines.append(part[:-1])
                eols.append("\r\n")
            else:
                lines.append(part)
                eols.append("\n")
        trailing = parts[-1] == ""
        if not trailing:
            lines.append(parts[-1])
            eols.append("")
        crlf = eols.count("\r\n")
        eol = "\r\n" if crlf > len(eols) - crlf - (0 if trailing else 1) else "\n"
        return cls(lines, eols, eol, trailing, bom)

    def render(self) -> str:
        return self.bom + "".join(line + end for line, end in zip(self.lines, self.eols, strict=True))

    def replace(self, start: int, count: int, new_lines: list[str] | tuple[str, ...]) -> None:
        """Replace lines[start:start+count]; new lines get the file's dominant ending."""
        self.lines[start:start + count] = list(new_lines)
        self.eols[start:start + count] = [self.eol] * len(new_lines)
        # A line that used to be last (no ending) may now be in the middle, and the
        # new last line must follow the file's original trailing-newline choice.
        for i, end in enumerate(self.eols):
            if end == "":
                self.eols[i] = self.eol
        if self.eols and not self.trailing:
            self.eols[-1] = ""

    def replace_all(self, text: str) -> None:
        self.replace(0, len(self.lines), split_lines(text))
