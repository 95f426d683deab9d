# gdb script for test/dwarf-variables.test.ts: prints as JSON what gdb knows, without running
# the program, about the globals named in TYPES_GLOBALS (type, size, address, file of every
# global or file-static symbol of that name) and the struct/union/enum types named in
# TYPES_TAGS (size, and each member's type, bit position and bit size, or each enumerator).
import json
import os

import gdb


def describe_symbol(s):
    v = s.value()
    return {'type': str(s.type), 'size': s.type.sizeof, 'address': hex(int(v.address)) if v.address is not None else None,
            'file': s.symtab.filename if s.symtab else None, 'line': s.line}


out = {'globals': {}, 'tags': {}}
for name in [n for n in os.environ.get('TYPES_GLOBALS', '').split(',') if n]:
    found = []
    g = gdb.lookup_global_symbol(name)
    if g is not None:
        found.append(describe_symbol(g))
    for s in gdb.lookup_static_symbols(name):
        found.append(describe_symbol(s))
    out['globals'][name] = found

for tag in [n for n in os.environ.get('TYPES_TAGS', '').split(',') if n]:
    try:
        t = gdb.lookup_type(tag.split(' ', 1)[1]) if tag.startswith('typedef ') else gdb.parse_and_eval('(%s *)0' % tag).type.target()
    except gdb.error as e:
        out['tags'][tag] = {'error': str(e)}
        continue
    entry = {'size': t.sizeof, 'name': str(t)}
    s = t.strip_typedefs()
    if s.code == gdb.TYPE_CODE_ENUM:
        entry['enumerators'] = [[f.name, int(f.enumval)] for f in s.fields()]
    elif s.code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        entry['members'] = [{'name': f.name or '', 'type': str(f.type), 'bitpos': f.bitpos, 'bitsize': f.bitsize} for f in s.fields()]
    out['tags'][tag] = entry

print('JSON:' + json.dumps(out))
