/* core/data/data_format.h - the data-set layouts ddad reads: one enum for the
 * config (data.format) and the data-set indexer (dataset.h). */
#ifndef DDAD_DATA_FORMAT_H
#define DDAD_DATA_FORMAT_H

typedef enum ddad_data_format {
    DDAD_DATA_FORMAT_MVTEC = 0, /* MVTec AD layout: <cat>/train/good, test/<defect>, ground_truth;
                                   also converted VisA and the synthetic set              */
    DDAD_DATA_FORMAT_VISA,      /* raw VisA (split_csv/1cls.csv layout)                    */
    DDAD_DATA_FORMAT_BTAD,      /* BTAD (01, 02, 03; .bmp/.png)                            */
    DDAD_DATA_FORMAT_FOLDER     /* generic folder of good / defect images                  */
} ddad_data_format_t;

#endif
