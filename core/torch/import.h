/* core/torch/import.h - published PyTorch checkpoints -> ddad's HDF5 weights.
 *
 * Reads a PyTorch zip checkpoint (what torch.save writes since 1.6) holding a
 * state_dict - a dict or OrderedDict of tensors, possibly wrapped in a
 * container {'state_dict': ...} or {'model': ...} - checks its keys and shapes
 * against the layout of the chosen kind, and writes every kept tensor as a
 * float32 dataset `weights/<exact key>` with its PyTorch shape, the layout
 * that ddad_params_load_h5 reads:
 *
 *     ddad_import_report_t rep;
 *     if (ddad_import_checkpoint("256x256_diffusion.pt", "adm256.h5",
 *                                DDAD_IMPORT_ADM256, &rep) != DDAD_OK) {
 *         fprintf(stderr, "error: %s\n", ddad_last_error());
 *         return ddad_status_exit_code(st);        // 4 data, 5 I/O, ...
 *     }
 *     printf("%zu tensors, %lld parameters\n", rep.n_written, (long long)rep.n_params);
 *
 * Kinds and their rules (tensors named "*.num_batches_tracked" are always
 * dropped: they carry nothing at inference):
 *   adm256     OpenAI guided-diffusion 256x256_diffusion.pt (ADM UNet, 256
 *              channels, channel_mult 1,1,2,2,4,4, attention at 32/16/8 px, 64
 *              channels per head, learned sigma, scale-shift norm, resblock
 *              up/down). Every key of that layout except label_emb.weight must
 *              be present with its shape; label_emb.weight (the 1000-class
 *              ImageNet embedding) is dropped, as the authors do before
 *              fine-tuning.
 *   adm        any guided-diffusion / anomaly_diff UNet state_dict, imported
 *              as is (label_emb and feat_rec1 kept); only the key names are
 *              checked against the ADM vocabulary, not the layout.
 *   effnet-b4  lukemelas efficientnet-b4 (efficientnet-b4-6ed6700e.pth): the
 *              stem and blocks 0..31 must match; _conv_head/_bn1 are kept when
 *              present (shape-checked); _fc.* is dropped.
 *   wrn50-2    torchvision wide_resnet50_2 (wide_resnet50_2-95faca4d.pth):
 *              conv1, bn1, layer1..layer4 must match; fc.* is dropped.
 *   auto       guessed from the keys (ddad_import_guess_kind).
 * Any other key, a missing key or a wrong shape is a DDAD_STATUS_DATA error
 * naming the first offending key with the shape found and the one expected.
 *
 * Legacy checkpoints (torch.save before 1.6, or _use_new_zipfile_serialization
 * =False) cannot be read without Python: they are detected and rejected with a
 * message that names experiments/convert_legacy_checkpoint.py, which re-saves
 * them as zip checkpoints.
 *
 * The output is complete or absent: it is written under a temporary name and
 * renamed at the end, so a failed import never touches an existing file.
 * Root attributes: format "ddad-weights", format_version 1, kind, source (file
 * name of the input), container, n_tensors, n_parameters, dropped (the dropped
 * keys, comma-separated), ddad_version.
 */
#ifndef DDAD_TORCH_IMPORT_H
#define DDAD_TORCH_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "import_kind.h" /* ddad_import_kind_t, ddad_import_kind_str/_parse */
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DDAD_IMPORT_FORMAT "ddad-weights"
#define DDAD_IMPORT_FORMAT_VERSION 1
#define DDAD_CHECKPOINT_MAX_DIMS 8

typedef struct ddad_import_report {
    ddad_import_kind_t kind;  /* the kind used (auto resolved)                    */
    char container[32];       /* "" (top-level state_dict), "state_dict", "model" */
    size_t n_read;            /* tensors in the checkpoint's state_dict           */
    size_t n_written;         /* tensors written to the HDF5 file                 */
    size_t n_dropped;         /* n_read - n_written                               */
    int64_t n_params;         /* elements written (parameters + BN statistics)    */
} ddad_import_report_t;

/* Imports checkpoint `in` into the HDF5 file `out` (replaced on success only).
 * report may be NULL. Statuses: DATA for a legacy, truncated or foreign file
 * and for layout mismatches, IO for files that cannot be opened or written,
 * USAGE for NULL arguments, NOMEM. */
ddad_status_t ddad_import_checkpoint(const char *in, const char *out, ddad_import_kind_t kind,
                                     ddad_import_report_t *report);

/* One tensor of a checkpoint's state_dict, or of a kind's expected layout. */
typedef struct ddad_checkpoint_entry {
    char *key;                                /* owned by the list                    */
    int64_t shape[DDAD_CHECKPOINT_MAX_DIMS];  /* PyTorch shape                        */
    int ndim;                                 /* 0 for a scalar                       */
    char dtype[16];                           /* "float32", "float16", "int64", ...   */
    int64_t numel;
} ddad_checkpoint_entry_t;

/* Lists the state_dict of checkpoint `in` in file order, without reading the
 * tensor data. *entries is malloc'ed: free with ddad_checkpoint_list_free.
 * container (may be NULL, 32 bytes) receives the unwrapped container key. */
ddad_status_t ddad_checkpoint_list(const char *in, ddad_checkpoint_entry_t **entries, size_t *n, char *container);
void ddad_checkpoint_list_free(ddad_checkpoint_entry_t *entries, size_t n);

/* The layout a kind checks, in state_dict order (dtype "float32"): for
 * adm256, effnet-b4 and wrn50-2 the tensors that must be present plus those
 * kept when present (*n_required first, then the optional ones); dropped keys
 * are not listed. USAGE error for auto and adm (no fixed layout). Free with
 * ddad_checkpoint_list_free. */
ddad_status_t ddad_import_expected(ddad_import_kind_t kind, ddad_checkpoint_entry_t **entries, size_t *n,
                                   size_t *n_required);

/* Guesses the kind from a listing (DATA error naming the first keys when no
 * kind fits). */
ddad_status_t ddad_import_guess_kind(const ddad_checkpoint_entry_t *entries, size_t n, ddad_import_kind_t *kind);

#ifdef __cplusplus
}
#endif
#endif
