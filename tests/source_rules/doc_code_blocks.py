#!/usr/bin/python3
"""The guides show real code: a fenced block right after a line
`<!-- code: path/to/file -->` must be that file, byte for byte."""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARK = re.compile(r"^<!-- code: (\S+) -->\n```[a-z]*\n(.*?)^```$", re.M | re.S)

failed = 0
docs = glob.glob(os.path.join(ROOT, "docs", "*.md")) + [os.path.join(ROOT, "README.md")] \
    + glob.glob(os.path.join(ROOT, "examples", "**", "README.md"), recursive=True)
checked = 0
for doc in sorted(docs):
    text = open(doc).read()
    for m in MARK.finditer(text):
        path, shown = m.group(1), m.group(2)
        checked += 1
        real = open(os.path.join(ROOT, path)).read()
        if shown != real:
            print("FAIL %s shows %s, which has changed since" % (os.path.relpath(doc, ROOT), path))
            failed = 1
print("ok   %d code blocks in the docs are the files they name" % checked if not failed
      else "FAIL code blocks out of date")
sys.exit(failed)
