/* gptprio.c - choose the A/B bank to boot from GPT attribute bits.  */
/*
 *  Copyright (C) 2026 The twoliter authors
 *
 *  This file is free software: you can redistribute it and/or modify it
 *  under the terms of the GNU General Public License as published by the
 *  Free Software Foundation, either version 3 of the License, or (at your
 *  option) any later version.
 *
 *  It is distributed in the hope that it will be useful, but WITHOUT ANY
 *  WARRANTY; without even the implied warranty of MERCHANTABILITY or FITNESS
 *  FOR A PARTICULAR PURPOSE.  See the GNU General Public License for more
 *  details: <http://www.gnu.org/licenses/>.
 */

/*
 * `gptprio.next` follows DESIGN section 2.7 of twoliter exactly, as the
 * Rust crate runtime/gptprio (used by the UEFI boot stage and by signpost)
 * does:
 *
 *   - the attribute bits of each BOOT partition: 48-51 priority (0 = not
 *     bootable), 52-55 tries left, 56 successful;
 *   - the candidates are the partitions of the BOOT type GUID named
 *     BOTTLEROCKET-BOOT-A or BOTTLEROCKET-BOOT-B;
 *   - the highest priority among the candidates with successful or tries
 *     left wins, ties going to the lower partition number;
 *   - a bank chosen while it has tries left spends one: both GPT copies
 *     are written, backup first (entry array, then header), before the
 *     bank is booted;
 *   - both copies are read and checked (signature, revision, header and
 *     entry-array CRC32, LBAs); when one is invalid or they differ, both
 *     are rewritten from the valid one (the primary if both are valid); a
 *     table that is not valid is never written.
 *
 * Usage (the embedded configuration of core.img):
 *   gptprio.next --set-device=dev --set-uuid=boot_uuid \
 *       --require=/vmlinuz --require=/grub/grub.cfg --reset-after=10 [DISK]
 * sets (and exports) `dev` to `DISK,gptN` and `boot_uuid` to that
 * partition's unique GUID.  A chosen bank whose BOOT filesystem lacks a
 * required file is given up for this boot (its try stays spent) and the
 * choice is made again.  One console line per decision, prefixed
 * `gptprio: `.  With nothing bootable it says why, and resets after the
 * given delay if --reset-after is set.  DISK defaults to the disk of $root.
 */

#include <grub/dl.h>
#include <grub/disk.h>
#include <grub/env.h>
#include <grub/err.h>
#include <grub/extcmd.h>
#include <grub/file.h>
#include <grub/i18n.h>
#include <grub/misc.h>
#include <grub/mm.h>
#include <grub/time.h>
#include <grub/types.h>

GRUB_MOD_LICENSE ("GPLv3+");

#define PRIORITY_SHIFT 48
#define TRIES_SHIFT 52
#define SUCCESSFUL_BIT 56
#define NIBBLE 0xfULL

#define REVISION_1_0 0x00010000
#define MIN_HEADER_SIZE 92
#define ENTRY_MIN_SIZE 128
#define MAX_ARRAY_BYTES (1024 * 1024)
#define MAX_BANKS 8

/* Header field offsets (UEFI 2.x, table 5-5).  */
#define H_REVISION 8
#define H_SIZE 12
#define H_CRC 16
#define H_MY_LBA 24
#define H_ALTERNATE_LBA 32
#define H_FIRST_USABLE 40
#define H_LAST_USABLE 48
#define H_ENTRIES_LBA 72
#define H_ENTRY_COUNT 80
#define H_ENTRY_SIZE 84
#define H_ENTRIES_CRC 88

/* Entry field offsets.  */
#define E_TYPE 0
#define E_UNIQUE 16
#define E_ATTRIBUTES 48
#define E_NAME 56
#define E_NAME_UNITS 36

/* 6b636168-7420-6568-2070-6c616e657421 as stored on disk.  */
static const grub_uint8_t boot_type[16] = {
  0x68, 0x61, 0x63, 0x6b, 0x20, 0x74, 0x68, 0x65,
  0x20, 0x70, 0x6c, 0x61, 0x6e, 0x65, 0x74, 0x21
};

static const struct grub_arg_option options[] = {
  {"set-device", 'd', 0,
   N_("Set VARNAME to the chosen BOOT partition (DISK,gptN)."),
   N_("VARNAME"), ARG_TYPE_STRING},
  {"set-uuid", 'u', 0,
   N_("Set VARNAME to the chosen BOOT partition's unique GUID."),
   N_("VARNAME"), ARG_TYPE_STRING},
  {"require", 'r', GRUB_ARG_OPTION_REPEATABLE,
   N_("Give up a bank whose BOOT filesystem lacks FILE and choose again."),
   N_("FILE"), ARG_TYPE_STRING},
  {"reset-after", 0, 0,
   N_("With nothing bootable, reset after SECONDS."),
   N_("SECONDS"), ARG_TYPE_INT},
  {0, 0, 0, 0, 0, 0}
};

enum options_index { OPT_DEVICE, OPT_UUID, OPT_REQUIRE, OPT_RESET };

static grub_uint32_t
get32 (const grub_uint8_t *b, grub_size_t at)
{
  return (grub_uint32_t) b[at] | ((grub_uint32_t) b[at + 1] << 8)
    | ((grub_uint32_t) b[at + 2] << 16) | ((grub_uint32_t) b[at + 3] << 24);
}

static grub_uint64_t
get64 (const grub_uint8_t *b, grub_size_t at)
{
  return (grub_uint64_t) get32 (b, at) | ((grub_uint64_t) get32 (b, at + 4) << 32);
}

static void
put32 (grub_uint8_t *b, grub_size_t at, grub_uint32_t v)
{
  int i;
  for (i = 0; i < 4; i++)
    b[at + i] = (v >> (8 * i)) & 0xff;
}

static void
put64 (grub_uint8_t *b, grub_size_t at, grub_uint64_t v)
{
  put32 (b, at, v & 0xffffffff);
  put32 (b, at + 4, v >> 32);
}

/* CRC-32 (IEEE 802.3, reflected), as the GPT uses.  */
static grub_uint32_t
crc32 (const grub_uint8_t *data, grub_size_t len)
{
  grub_uint32_t crc = 0xffffffff;
  grub_size_t i;
  int bit;
  for (i = 0; i < len; i++)
    {
      crc ^= data[i];
      for (bit = 0; bit < 8; bit++)
	crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
    }
  return ~crc;
}

static grub_uint32_t
header_crc (grub_uint8_t *header, grub_uint32_t size)
{
  grub_uint32_t saved = get32 (header, H_CRC), crc;
  put32 (header, H_CRC, 0);
  crc = crc32 (header, size);
  put32 (header, H_CRC, saved);
  return crc;
}

/* The disk, in LBAs of its logical sector size.  */
struct gpt_disk
{
  grub_disk_t disk;
  grub_uint32_t lba_size;
  grub_uint64_t lbas;
};

static grub_err_t
read_lbas (struct gpt_disk *d, grub_uint64_t lba, grub_size_t bytes, void *buf)
{
  return grub_disk_read (d->disk, lba << (d->disk->log_sector_size - GRUB_DISK_SECTOR_BITS),
			 0, bytes, buf);
}

static grub_err_t
write_lbas (struct gpt_disk *d, grub_uint64_t lba, grub_size_t bytes, const void *buf)
{
  return grub_disk_write (d->disk, lba << (d->disk->log_sector_size - GRUB_DISK_SECTOR_BITS),
			  0, bytes, buf);
}

static grub_size_t
array_lbas (grub_size_t bytes, grub_uint32_t lba_size)
{
  return (bytes + lba_size - 1) / lba_size;
}

/* One copy of the table: its header (lba_size bytes) and entry array.  */
struct gpt_copy
{
  grub_uint8_t *header;
  grub_uint8_t *entries;
  grub_size_t entries_bytes;
  char problem[96];
};

static void
copy_free (struct gpt_copy *c)
{
  grub_free (c->header);
  grub_free (c->entries);
  c->header = c->entries = 0;
}

/* Reads and checks the copy whose header is at LBA; on failure returns 0 and
   says why in C->problem.  */
static int
read_copy (struct gpt_disk *d, grub_uint64_t lba, int primary, struct gpt_copy *c)
{
  grub_uint32_t size, entry_size, count;
  grub_uint64_t first, last, alternate, primary_lba, backup_lba, entries_lba, n;
  grub_size_t bytes;
  int placed;

  c->header = c->entries = 0;
  c->problem[0] = 0;
#define BAD(...) do { grub_snprintf (c->problem, sizeof (c->problem), __VA_ARGS__); \
    copy_free (c); return 0; } while (0)
  if (d->lbas < 4)
    BAD ("the disk has %llu sectors", (unsigned long long) d->lbas);
  if (lba >= d->lbas)
    BAD ("LBA %llu is past the end of the disk", (unsigned long long) lba);
  c->header = grub_malloc (d->lba_size);
  if (!c->header)
    BAD ("out of memory");
  if (read_lbas (d, lba, d->lba_size, c->header))
    {
      grub_errno = GRUB_ERR_NONE;
      BAD ("cannot read LBA %llu", (unsigned long long) lba);
    }
  if (grub_memcmp (c->header, "EFI PART", 8) != 0)
    BAD ("no GPT signature at LBA %llu", (unsigned long long) lba);
  if (get32 (c->header, H_REVISION) != REVISION_1_0)
    BAD ("revision %08x at LBA %llu", get32 (c->header, H_REVISION), (unsigned long long) lba);
  size = get32 (c->header, H_SIZE);
  if (size < MIN_HEADER_SIZE || size > d->lba_size)
    BAD ("header size %u at LBA %llu", size, (unsigned long long) lba);
  if (get32 (c->header, H_CRC) != header_crc (c->header, size))
    BAD ("header CRC32 mismatch at LBA %llu", (unsigned long long) lba);
  if (get64 (c->header, H_MY_LBA) != lba)
    BAD ("header at LBA %llu says it is at %llu", (unsigned long long) lba,
	 (unsigned long long) get64 (c->header, H_MY_LBA));
  first = get64 (c->header, H_FIRST_USABLE);
  last = get64 (c->header, H_LAST_USABLE);
  alternate = get64 (c->header, H_ALTERNATE_LBA);
  if (primary ? !(alternate > last && alternate < d->lbas) : alternate != 1)
    BAD ("alternate LBA %llu at LBA %llu", (unsigned long long) alternate, (unsigned long long) lba);
  primary_lba = primary ? lba : alternate;
  backup_lba = primary ? alternate : lba;
  if (first <= primary_lba || first > last || last >= backup_lba)
    BAD ("usable range %llu-%llu at LBA %llu", (unsigned long long) first,
	 (unsigned long long) last, (unsigned long long) lba);
  entry_size = get32 (c->header, H_ENTRY_SIZE);
  if (entry_size < ENTRY_MIN_SIZE || (entry_size & (entry_size - 1)) != 0)
    BAD ("entry size %u at LBA %llu", entry_size, (unsigned long long) lba);
  count = get32 (c->header, H_ENTRY_COUNT);
  if (count == 0 || (grub_uint64_t) count * entry_size > MAX_ARRAY_BYTES)
    BAD ("%u entries at LBA %llu", count, (unsigned long long) lba);
  bytes = (grub_size_t) count * entry_size;
  n = array_lbas (bytes, d->lba_size);
  entries_lba = get64 (c->header, H_ENTRIES_LBA);
  if (primary)
    placed = entries_lba > lba && entries_lba + n <= first && last + n < backup_lba;
  else
    placed = entries_lba > last && entries_lba + n <= lba && primary_lba + n < first;
  if (!placed)
    BAD ("entry array at LBA %llu does not fit", (unsigned long long) entries_lba);
  c->entries = grub_malloc (n * d->lba_size);
  if (!c->entries)
    BAD ("out of memory");
  if (read_lbas (d, entries_lba, n * d->lba_size, c->entries))
    {
      grub_errno = GRUB_ERR_NONE;
      BAD ("cannot read the entry array at LBA %llu", (unsigned long long) entries_lba);
    }
  if (get32 (c->header, H_ENTRIES_CRC) != crc32 (c->entries, bytes))
    BAD ("entry array CRC32 mismatch at LBA %llu", (unsigned long long) entries_lba);
#undef BAD
  c->entries_bytes = bytes;
  return 1;
}

/* The table in use and where its two copies go.  */
struct gpt
{
  struct gpt_disk *d;
  grub_uint8_t *header;		/* lba_size bytes; the first H_SIZE are the header */
  grub_uint8_t *entries;	/* array_lbas(entries_bytes) * lba_size bytes */
  grub_size_t entries_bytes;
  grub_uint64_t backup_lba, primary_entries_lba, backup_entries_lba;
};

/* Writes both copies, backup first (entry array, then header).  */
static grub_err_t
gpt_write (struct gpt *g)
{
  grub_uint32_t size = get32 (g->header, H_SIZE);
  grub_uint32_t entries_crc = crc32 (g->entries, g->entries_bytes);
  grub_size_t n = array_lbas (g->entries_bytes, g->d->lba_size);
  int i;

  for (i = 0; i < 2; i++)
    {
      int backup = (i == 0);
      grub_uint64_t my = backup ? g->backup_lba : 1;
      grub_uint64_t entries_lba = backup ? g->backup_entries_lba : g->primary_entries_lba;
      put64 (g->header, H_MY_LBA, my);
      put64 (g->header, H_ALTERNATE_LBA, backup ? 1 : g->backup_lba);
      put64 (g->header, H_ENTRIES_LBA, entries_lba);
      put32 (g->header, H_ENTRIES_CRC, entries_crc);
      put32 (g->header, H_CRC, header_crc (g->header, size));
      if (write_lbas (g->d, entries_lba, n * g->d->lba_size, g->entries)
	  || write_lbas (g->d, my, g->d->lba_size, g->header))
	return grub_error (GRUB_ERR_WRITE_ERROR, "gptprio: cannot write the %s GPT copy",
			   backup ? "backup" : "primary");
    }
  return GRUB_ERR_NONE;
}

/* Reads both copies; repairs them when they are not both valid and equal.  */
static grub_err_t
gpt_read (struct gpt_disk *d, struct gpt *g)
{
  struct gpt_copy p, b;
  int p_ok, b_ok, differ = 0;
  grub_uint8_t mbr[512];
  grub_uint64_t n;
  int i, protective = 0;

  p_ok = read_copy (d, 1, 1, &p);
  b_ok = read_copy (d, p_ok ? get64 (p.header, H_ALTERNATE_LBA) : d->lbas - 1, 0, &b);
  if (!p_ok && !b_ok)
    return grub_error (GRUB_ERR_BAD_PART_TABLE,
		       "gptprio: no valid GPT copy (primary: %s; backup: %s)", p.problem, b.problem);
  if (read_lbas (d, 0, sizeof (mbr), mbr))
    {
      copy_free (&p);
      copy_free (&b);
      return grub_errno;
    }
  for (i = 0; i < 4; i++)
    protective |= mbr[446 + 16 * i + 4] == 0xee;
  if (mbr[510] != 0x55 || mbr[511] != 0xaa || !protective)
    {
      copy_free (&p);
      copy_free (&b);
      return grub_error (GRUB_ERR_BAD_PART_TABLE, "gptprio: LBA 0 is not a protective MBR");
    }
  if (p_ok && b_ok)
    differ = p.entries_bytes != b.entries_bytes
      || grub_memcmp (p.entries, b.entries, p.entries_bytes) != 0
      || grub_memcmp (p.header + H_FIRST_USABLE, b.header + H_FIRST_USABLE,
		      H_ENTRIES_LBA - H_FIRST_USABLE) != 0
      || grub_memcmp (p.header + H_ENTRY_COUNT, b.header + H_ENTRY_COUNT,
		      H_ENTRIES_CRC - H_ENTRY_COUNT) != 0;
  if (!p_ok)
    grub_printf ("gptprio: the primary GPT copy is invalid: %s\n", p.problem);
  if (!b_ok)
    grub_printf ("gptprio: the backup GPT copy is invalid: %s\n", b.problem);
  if (differ)
    grub_printf ("gptprio: the GPT copies differ (an interrupted write); the primary is used\n");

  g->d = d;
  if (p_ok)
    {
      n = array_lbas (p.entries_bytes, d->lba_size);
      g->header = p.header;
      g->entries = p.entries;
      g->entries_bytes = p.entries_bytes;
      g->backup_lba = get64 (p.header, H_ALTERNATE_LBA);
      g->primary_entries_lba = get64 (p.header, H_ENTRIES_LBA);
      g->backup_entries_lba = (b_ok && !differ) ? get64 (b.header, H_ENTRIES_LBA)
	: g->backup_lba - n;
      copy_free (&b);
    }
  else
    {
      g->header = b.header;
      g->entries = b.entries;
      g->entries_bytes = b.entries_bytes;
      g->backup_lba = get64 (b.header, H_MY_LBA);
      g->primary_entries_lba = 2;
      g->backup_entries_lba = get64 (b.header, H_ENTRIES_LBA);
    }
  if (!p_ok || !b_ok || differ)
    {
      if (gpt_write (g))
	return grub_errno;
      grub_printf ("gptprio: rewrote both GPT copies from the valid %s copy\n",
		   p_ok ? "primary" : "backup");
    }
  return GRUB_ERR_NONE;
}

static void
gpt_free (struct gpt *g)
{
  grub_free (g->header);
  grub_free (g->entries);
}

/* The bank of an entry: 'A' or 'B' for a BOOT-type partition named
   BOTTLEROCKET-BOOT-A or -B, else 0.  */
static char
entry_bank (const grub_uint8_t *e)
{
  static const char prefix[] = "BOTTLEROCKET-BOOT-";
  grub_size_t i, len = sizeof (prefix) - 1;
  grub_uint8_t bank;

  if (grub_memcmp (e + E_TYPE, boot_type, 16) != 0)
    return 0;
  for (i = 0; i < len; i++)
    if (e[E_NAME + 2 * i] != (grub_uint8_t) prefix[i] || e[E_NAME + 2 * i + 1] != 0)
      return 0;
  bank = e[E_NAME + 2 * len];
  if ((bank != 'A' && bank != 'B') || e[E_NAME + 2 * len + 1] != 0
      || e[E_NAME + 2 * len + 2] != 0 || e[E_NAME + 2 * len + 3] != 0)
    return 0;
  return (char) bank;
}

static unsigned
priority_of (grub_uint64_t a)
{
  return (a >> PRIORITY_SHIFT) & NIBBLE;
}

static unsigned
tries_of (grub_uint64_t a)
{
  return (a >> TRIES_SHIFT) & NIBBLE;
}

static int
successful (grub_uint64_t a)
{
  return (a >> SUCCESSFUL_BIT) & 1;
}

/* Prints the candidates, for the "nothing bootable" line.  */
static void
print_candidates (struct gpt *g)
{
  grub_uint32_t i, count = get32 (g->header, H_ENTRY_COUNT);
  grub_uint32_t size = get32 (g->header, H_ENTRY_SIZE);
  int any = 0;

  for (i = 0; i < count; i++)
    {
      const grub_uint8_t *e = g->entries + (grub_size_t) i * size;
      grub_uint64_t a;
      char bank = entry_bank (e);
      if (!bank)
	continue;
      a = get64 (e, E_ATTRIBUTES);
      grub_printf ("%sbank %c (partition %u): priority %u, tries left %u, %s", any ? "; " : " (",
		   bank, i + 1, priority_of (a), tries_of (a),
		   successful (a) ? "successful" : "not successful");
      any = 1;
    }
  grub_printf (any ? ")\n" : "\n");
}

static void
format_guid (const grub_uint8_t *g, char *out)
{
  grub_snprintf (out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 get32 (g, 0), get32 (g, 4) & 0xffff, get32 (g, 6) & 0xffff,
		 g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

/* Whether every required file opens on partition NUMBER; says which does not.  */
static int
has_files (const char *disk, grub_uint32_t number, char **files, char bank)
{
  for (; files && *files; files++)
    {
      char *path = grub_xasprintf ("(%s,gpt%u)%s", disk, number, *files);
      grub_file_t file;
      if (!path)
	return 0;
      file = grub_file_open (path, GRUB_FILE_TYPE_NONE | GRUB_FILE_TYPE_SKIP_SIGNATURE);
      grub_free (path);
      if (!file)
	{
	  grub_printf ("gptprio: bank %c (partition %u) failed: cannot open %s: %s; choosing again\n",
		       bank, number, *files, grub_errmsg);
	  grub_errno = GRUB_ERR_NONE;
	  return 0;
	}
      grub_file_close (file);
    }
  return 1;
}

static grub_err_t
grub_cmd_next (grub_extcmd_context_t ctxt, int argc, char **args)
{
  struct grub_arg_list *state = ctxt->state;
  struct gpt_disk d;
  struct gpt g;
  char *name;
  grub_uint32_t failed[MAX_BANKS];
  int nfailed = 0;
  grub_err_t err = GRUB_ERR_NONE;

  if (argc > 1)
    return grub_error (GRUB_ERR_BAD_ARGUMENT, "gptprio.next: one DISK at most");
  if (argc == 1)
    name = grub_strdup (args[0][0] == '(' ? args[0] + 1 : args[0]);
  else
    {
      const char *root = grub_env_get ("root");
      if (!root)
	return grub_error (GRUB_ERR_BAD_ARGUMENT, "gptprio.next: no DISK and $root is not set");
      name = grub_strdup (root);
    }
  if (!name)
    return grub_errno;
  {
    char *cut = grub_strchr (name, ',');
    if (cut)
      *cut = 0;
    cut = grub_strchr (name, ')');
    if (cut)
      *cut = 0;
  }
  d.disk = grub_disk_open (name);
  if (!d.disk)
    {
      grub_free (name);
      return grub_errno;
    }
  d.lba_size = 1U << d.disk->log_sector_size;
  d.lbas = grub_disk_native_sectors (d.disk);
  if (d.lbas == GRUB_DISK_SIZE_UNKNOWN)
    {
      err = grub_error (GRUB_ERR_BAD_DEVICE, "gptprio.next: the size of %s is unknown", name);
      goto out;
    }
  if (gpt_read (&d, &g))
    {
      err = grub_errno;
      goto out;
    }

  for (;;)
    {
      grub_uint32_t i, count = get32 (g.header, H_ENTRY_COUNT);
      grub_uint32_t size = get32 (g.header, H_ENTRY_SIZE);
      grub_uint32_t best = 0;
      grub_uint64_t best_attrs = 0;
      grub_uint8_t *best_entry = 0;
      char bank = 0;
      int j, skip;
      unsigned tries;

      for (i = 0; i < count; i++)
	{
	  grub_uint8_t *e = g.entries + (grub_size_t) i * size;
	  grub_uint64_t a;
	  char b = entry_bank (e);
	  if (!b)
	    continue;
	  for (skip = 0, j = 0; j < nfailed; j++)
	    skip |= failed[j] == i + 1;
	  a = get64 (e, E_ATTRIBUTES);
	  if (skip || priority_of (a) == 0 || !(successful (a) || tries_of (a) > 0))
	    continue;
	  /* Strictly higher priority replaces: ties go to the lower number.  */
	  if (!best_entry || priority_of (a) > priority_of (best_attrs))
	    {
	      best = i + 1;
	      best_attrs = a;
	      best_entry = e;
	      bank = b;
	    }
	}
      if (!best_entry)
	{
	  int seconds = state[OPT_RESET].set ? (int) grub_strtoul (state[OPT_RESET].arg, 0, 10) : -1;
	  grub_printf ("gptprio: nothing bootable: no BOOT partition has priority > 0 and either "
		       "the successful bit or tries left");
	  print_candidates (&g);
	  if (seconds >= 0)
	    {
	      grub_printf ("gptprio: resetting in %d s\n", seconds);
	      grub_millisleep ((grub_uint32_t) seconds * 1000);
	      grub_reboot ();
	    }
	  err = grub_error (GRUB_ERR_UNKNOWN_DEVICE, "gptprio.next: nothing bootable");
	  break;
	}
      tries = tries_of (best_attrs);
      if (tries > 0)
	{
	  grub_uint64_t spent = (best_attrs & ~(NIBBLE << TRIES_SHIFT))
	    | ((grub_uint64_t) (tries - 1) << TRIES_SHIFT);
	  put64 (best_entry, E_ATTRIBUTES, spent);
	  if (gpt_write (&g))
	    {
	      err = grub_errno;
	      break;
	    }
	  grub_printf ("gptprio: bank %c chosen by tries (%u -> %u)\n", bank, tries, tries - 1);
	}
      else
	grub_printf ("gptprio: bank %c chosen as successful\n", bank);

      if (!has_files (name, best, state[OPT_REQUIRE].set ? state[OPT_REQUIRE].args : 0, bank))
	{
	  /* Every failed bank is left out of the next choice, so the loop ends.  */
	  if (nfailed == MAX_BANKS)
	    {
	      err = grub_error (GRUB_ERR_UNKNOWN_DEVICE,
				"gptprio.next: more than %d BOOT partitions failed", MAX_BANKS);
	      break;
	    }
	  failed[nfailed++] = best;
	  continue;
	}
      if (state[OPT_DEVICE].set)
	{
	  char *dev = grub_xasprintf ("%s,gpt%u", name, best);
	  if (!dev)
	    {
	      err = grub_errno;
	      break;
	    }
	  grub_env_set (state[OPT_DEVICE].arg, dev);
	  grub_env_export (state[OPT_DEVICE].arg);
	  grub_free (dev);
	}
      if (state[OPT_UUID].set)
	{
	  char uuid[37];
	  format_guid (best_entry + E_UNIQUE, uuid);
	  grub_env_set (state[OPT_UUID].arg, uuid);
	  grub_env_export (state[OPT_UUID].arg);
	}
      break;
    }
  gpt_free (&g);
 out:
  grub_disk_close (d.disk);
  grub_free (name);
  return err;
}

static grub_extcmd_t cmd_next;

GRUB_MOD_INIT (gptprio)
{
  cmd_next = grub_register_extcmd ("gptprio.next", grub_cmd_next, 0,
				   N_("[--set-device=VAR] [--set-uuid=VAR] [--require=FILE]... "
				      "[--reset-after=SECONDS] [DISK]"),
				   N_("Choose the A/B bank to boot from the GPT attribute bits "
				      "(priority, tries left, successful) and spend a try."),
				   options);
}

GRUB_MOD_FINI (gptprio)
{
  grub_unregister_extcmd (cmd_next);
}
