/* core/data/dataset.h - index a data set folder into a table of samples.
 *
 *     ddad_dataset_t *ds;
 *     const char *cats[] = {"bottle"};
 *     if (ddad_dataset_index(&ds, DDAD_DATA_FORMAT_MVTEC, "datasets/mvtec", cats, 1)) ...
 *     if (ddad_dataset_validate(ds)) ...            // probes every image and mask
 *     const ddad_sample_t **train; size_t n;
 *     ddad_dataset_select(ds, "bottle", DDAD_SPLIT_TRAIN, &train, &n);  // free(train)
 *     ddad_dataset_free(ds);
 *
 * Layouts (<c> = a category folder under root):
 *   MVTEC   <c>/train/good/<files>, <c>/test/<defect>/<files>, <c>/ground_truth/<defect>/<stem>_mask.*
 *           (also VisA converted to this layout, and the synthetic set, whose
 *           <c>/test_source/<defect>/<stem>.png fills source_path). "good" = normal.
 *   VISA    raw VisA: <c>/Data/Images/{Normal,Anomaly}/<files>, <c>/Data/Masks/Anomaly/<stem>.png,
 *           split from <root>/split_csv/1cls.csv (object,split,label,image,mask).
 *           Masks hold defect ids (0 background), so mask_threshold is 0.
 *           Anomalies get defect type "bad" (as in the converted layout).
 *   BTAD    <c>/train/ok, <c>/test/ok, <c>/test/ko, <c>/ground_truth/ko/<stem>.{bmp,png}
 *           (defect type "ko", normal "good").
 *   FOLDER  <c>/train/<files>, <c>/test/normal/<files>, <c>/test/abnormal/<files>, optional <c>/masks/<stem>.*
 *           Without masks/ the table has has_masks = false: pixel metrics can't be computed.
 * Image files: .png .jpg .jpeg .bmp (any case). Everything is sorted (strcmp on
 * category, then split, defect type, file name): the order is deterministic.
 *
 * Indexing checks the layout: missing root or category folder (the message
 * lists the categories that exist), empty train set, anomalous test image
 * without its mask where the format requires masks. ddad_dataset_validate then
 * probes every file (header + structure, see ddad_image_probe) and checks that
 * each mask has its image's size. All failures are DDAD_STATUS_DATA naming
 * the file.
 *
 * Ownership: the dataset owns every string and the sample array; a selection
 * returned by ddad_dataset_select is a malloc'ed array of pointers into the
 * dataset (free() it, and keep the dataset alive while using it).
 */
#ifndef DDAD_DATASET_H
#define DDAD_DATASET_H

#include <stdbool.h>
#include <stddef.h>

#include "data_format.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif


/* VAL: good training images held out from training (ddad_dataset_hold_out),
 * for statistics and thresholds on images the model has not seen. */
typedef enum ddad_split { DDAD_SPLIT_TRAIN = 0, DDAD_SPLIT_TEST = 1, DDAD_SPLIT_VAL = 2 } ddad_split_t;

typedef struct ddad_sample {
    char *path;        /* image file (root-joined)                                   */
    char *name;        /* relative to the category: "test/crack/003.png"            */
    char *category;
    char *defect;      /* defect type; "good" for normal images                     */
    int label;         /* 0 good, 1 anomalous                                       */
    char *mask_path;   /* NULL for good images and when the set has no masks        */
    char *source_path; /* synthetic set: the defect-free source image; else NULL    */
    ddad_split_t split;
    int width, height; /* filled by ddad_dataset_validate (0 before)                */
} ddad_sample_t;

typedef struct ddad_dataset {
    ddad_data_format_t format;
    char *root;
    ddad_sample_t *samples; /* (n) */
    size_t n;
    char **categories;      /* (n_categories) indexed categories, in the order asked */
    size_t n_categories;
    bool has_masks;         /* false: anomalous images have no masks (FOLDER without masks/) */
    int mask_threshold;     /* a mask pixel is defective when > this (127; 0 for raw VisA)  */
} ddad_dataset_t;

/* "mvtec" (also "visa_mvtec", "synthetic"), "visa", "btad", "folder". */
ddad_status_t ddad_data_format_parse(const char *name, ddad_data_format_t *fmt);
const char *ddad_data_format_name(ddad_data_format_t fmt);

/* Category folders present under root for this format (sorted). *names is a
 * malloc'ed array of malloc'ed strings: free with ddad_dataset_free_names. */
ddad_status_t ddad_dataset_list_categories(ddad_data_format_t fmt, const char *root, char ***names,
                                           size_t *n);
void ddad_dataset_free_names(char **names, size_t n);

/* Indexes the given categories (all present ones when categories == NULL). */
ddad_status_t ddad_dataset_index(ddad_dataset_t **out, ddad_data_format_t fmt, const char *root,
                                 const char *const *categories, size_t n_categories);

/* Probes every image and mask (no full decode) and checks mask sizes; fills
 * width/height. */
ddad_status_t ddad_dataset_validate(ddad_dataset_t *ds);

/* Samples of one category (NULL = all) and split, in table order. */
ddad_status_t ddad_dataset_select(const ddad_dataset_t *ds, const char *category, ddad_split_t split,
                                  const ddad_sample_t ***out, size_t *n);

/* Moves a fraction (0 <= fraction < 1, data.val_split) of every category's
 * training images to DDAD_SPLIT_VAL, spread evenly over the table order:
 * the i-th training image of a category (0-based) is held out when
 * floor((i + 1) f) > floor(i f). Deterministic (no seed): the trainer and the
 * evaluator of a run agree on the split. Holds out at most all but one image
 * of a category; *n_val (may be NULL) gets the number held out. */
void ddad_dataset_hold_out(ddad_dataset_t *ds, double fraction, size_t *n_val);

/* Number of samples matching category (NULL = any), split, label (-1 = any). */
size_t ddad_dataset_count(const ddad_dataset_t *ds, const char *category, ddad_split_t split, int label);

void ddad_dataset_free(ddad_dataset_t *ds);

#ifdef __cplusplus
}
#endif
#endif
