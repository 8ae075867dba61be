"""The ledger check: reads the shared disk image on the host and judges what the nodes wrote.

Owns: parsing the ledger (one 4 KiB block per record, "L node generation sequence"), and the
two properties every scenario ends with:
- no interleaving: along the disk, generations never decrease, each generation was written by
  one node only, and one writer's sequence numbers run 1, 2, 3... without a gap or a repeat
  (two writers at once would overwrite each other's blocks or mix their runs; a local restart
  of the service starts again at 1);
- no loss: every record a node acknowledged (ACK on its acknowledgement port, sent after the
  write and its fsync) is on the disk, in the block it named.
Does not own: the writer (ledger-resource) or the acknowledgements' transport (harness.py)."""

BLOCK = 4096
# Bound on the blocks read (the writer's MAX_BLOCKS).
MAX_BLOCKS = 16384


def read(path):
    """Returns (records, problems): records as (block, node, generation, sequence)."""
    records, problems = [], []
    with open(path, "rb") as f:
        for block in range(MAX_BLOCKS):
            data = f.read(BLOCK)
            if len(data) < BLOCK:
                break
            text = data.rstrip(b"\0")
            if not text:
                continue
            parts = text.decode("ascii", "replace").split()
            if len(parts) != 4 or parts[0] != "L" or b"\0" in text:
                problems.append("block %d: not a record: %r" % (block, text[:60]))
                continue
            try:
                records.append((block, parts[1], int(parts[2]), int(parts[3])))
            except ValueError:
                problems.append("block %d: bad numbers: %r" % (block, text[:60]))
    return records, problems


def check(path, acks):
    """acks: iterable of (time, node, generation, sequence, block). Returns (summary, problems)."""
    records, problems = read(path)
    if records:
        last = records[-1][0]
        present = {r[0] for r in records}
        holes = [b for b in range(last + 1) if b not in present]
        if holes:
            problems.append("empty blocks inside the ledger: %s" % holes[:10])
    writer_of = {}
    prev = None
    for block, node, gen, seq in records:
        if prev is not None:
            pb, pnode, pgen, pseq = prev
            if gen < pgen:
                problems.append("block %d: generation %d after %d (block %d): a stale writer" % (block, gen, pgen, pb))
            elif gen == pgen and node == pnode and seq not in (pseq + 1, 1):
                problems.append("block %d: %s g%d sequence %d after %d: records lost or overwritten"
                                % (block, node, gen, seq, pseq))
        if writer_of.setdefault(gen, node) != node:
            problems.append("block %d: generation %d written by %s and %s: two writers in one period"
                            % (block, gen, writer_of[gen], node))
        prev = (block, node, gen, seq)
    by_block = {r[0]: r[1:] for r in records}
    acked = 0
    for _, node, gen, seq, block in acks:
        acked += 1
        if by_block.get(block) != (node, gen, seq):
            problems.append("acknowledged record %s g%d #%d is not in block %d (found %s)"
                            % (node, gen, seq, block, by_block.get(block)))
    periods = []
    for block, node, gen, seq in records:
        if not periods or periods[-1][1] != gen:
            periods.append([node, gen, 0])
        periods[-1][2] += 1
    summary = "%d records, %d acknowledged, periods: %s" % (
        len(records), acked, ", ".join("%s g%d x%d" % tuple(p) for p in periods) or "none")
    return summary, problems
