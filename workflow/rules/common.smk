# Functions of workflow/Snakefile: the sample sheet, read groups and the
# reads each step takes. Included by the Snakefile after its configuration
# (PREPROCESS, OUT); the LIBS table they read is built there.

# Library and sample names become file names and @RG fields: letters, digits,
# '.', '_' and '-' only, not starting with '.', '_' or '-' and without '..'.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# The SAM specification's @RG PL values.
SAM_PLATFORMS = {
    "CAPILLARY", "DNBSEQ", "ELEMENT", "HELICOS", "ILLUMINA", "IONTORRENT",
    "LS454", "ONT", "PACBIO", "SINGULAR", "SOLID", "ULTIMA",
}


def safe_name(s):
    return SAFE_NAME.fullmatch(s) is not None and ".." not in s


def read_samples(path):
    """library -> {sample, fastq: [paths], fastq_r2: [paths], platform} from a
    TSV sample sheet (fastq_r2: the mates of a paired library, optional)."""
    libs = {}
    line = [1]  # the sheet's line the current row ends on (comments counted)

    def lines(f):
        for n, l in enumerate(f, start=1):
            if not l.startswith("#"):
                line[0] = n
                yield l

    with open(path, newline="") as f:
        rows = csv.DictReader(lines(f), delimiter="\t")
        for need in ("library", "sample", "fastq"):
            if need not in (rows.fieldnames or []):
                raise ValueError(f"{path}: the sample sheet needs a '{need}' column")
        for r in rows:
            i = line[0]
            field = lambda k: (r.get(k) or "").strip()
            lib, sample = field("library"), field("sample")
            platform = field("platform") or "ILLUMINA"
            if not lib:
                raise ValueError(f"{path}: line {i}: library is empty")
            if lib in libs:
                raise ValueError(f"{path}: line {i}: library '{lib}' is repeated")
            for what, v in (("library", lib), ("sample", sample)):
                if not v:
                    raise ValueError(f"{path}: line {i}: {what} is empty")
                if not safe_name(v):
                    raise ValueError(
                        f"{path}: line {i}: {what} '{v}' may only hold letters, digits,"
                        " '.', '_' and '-' (and not '..'), starting with a letter or digit")
            if platform not in SAM_PLATFORMS and not safe_name(platform):
                raise ValueError(
                    f"{path}: line {i}: platform '{platform}' is not one of the SAM"
                    f" PL values ({', '.join(sorted(SAM_PLATFORMS))}) and holds other"
                    " characters than letters, digits, '.', '_' and '-'")
            base = os.path.dirname(os.path.abspath(path))
            paths = lambda k: [p if os.path.isabs(p) else os.path.join(base, p)
                               for p in field(k).split(",") if p.strip()]
            fqs, r2s = paths("fastq"), paths("fastq_r2")
            if not fqs:
                raise ValueError(f"{path}: line {i}: no FASTQ for library '{lib}'")
            if r2s and len(r2s) != len(fqs):
                raise ValueError(
                    f"{path}: line {i}: library '{lib}' has {len(fqs)} fastq and"
                    f" {len(r2s)} fastq_r2 files; give one mate file per read file")
            if r2s and PREPROCESS != "fastp":
                raise ValueError(
                    f"{path}: line {i}: library '{lib}' is paired (fastq_r2) but"
                    " 'preprocess' is 'none': crest maps single (merged) reads")
            libs[lib] = {"sample": sample, "fastq": fqs, "fastq_r2": r2s,
                         "platform": platform}
    return libs


def read_group(lib):
    s = LIBS[lib]
    return f"@RG\\tID:{lib}\\tSM:{s['sample']}\\tLB:{lib}\\tPL:{s['platform']}"


def raw_reads(w):
    lib = LIBS[w.lib]
    return {"r1": lib["fastq"], "r2": lib["fastq_r2"]}


def reads_to_map(w):
    if PREPROCESS == "fastp":
        return f"{OUT}/reads/{w.lib}.fq.gz"
    return LIBS[w.lib]["fastq"]
