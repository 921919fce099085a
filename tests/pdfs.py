"""Minimal PDF files written byte by byte, for the loader tests."""

from __future__ import annotations

import zlib


def pdf_bytes(pages: list[list[str]], info: str = "", *, compress: bool = False) -> bytes:
    """A minimal PDF: each page shows its lines in Helvetica; ``info`` is a document information body.
    ``compress`` deflates the page contents, so that much text fits in a small file."""
    catalog, font = (
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    )
    objects = [catalog, b"", font]  # the page tree (object 2) is filled in once the pages are known
    kids = []
    for lines in pages:
        shown = " T* ".join(f"({line}) Tj" for line in lines)
        content = f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET".encode("latin-1")
        if compress:
            content = zlib.compress(content)
        page_id = len(objects) + 1
        kids.append(f"{page_id} 0 R")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {page_id + 1} 0 R >>".encode()
        )
        compression = b" /Filter /FlateDecode" if compress else b""
        objects.append(b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(content), compression, content))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    if info:
        objects.append(f"<< {info} >>".encode("latin-1"))
    return pdf_file(objects, f" /Info {len(objects)} 0 R" if info else "")


def pdf_file(objects: list[bytes], trailer_extra: str = "") -> bytes:
    """``objects`` (numbered from 1, the first the catalog) written as a PDF file with its cross-reference
    table; ``trailer_extra`` is added to the trailer's dictionary."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R{trailer_extra} >>"
    out += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
