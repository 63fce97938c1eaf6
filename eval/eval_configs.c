/* eval/eval_configs.c - see eval_args.h: the model side of ddad-eval,
 * evaluating the runs of one CONFIG or of every category's config. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "eval_args.h"
#include "eval_run.h"

static eval_opts_t opts_of(const eval_args_t *a, const ddad_config_t *cfg)
{
    eval_opts_t o = eval_opts_default();
    o.checkpoint = a->checkpoint;
    o.pro_limit = isnan(a->pro_limit) ? cfg->eval.pro_limit : a->pro_limit;
    o.save_images = a->save_images;
    o.quiet = a->quiet;
    o.threshold_images = a->threshold_images;
    o.threshold_f1 = a->threshold_f1;
    o.export_maps = a->export_maps;
    return o;
}

/* A record that says why a category was not evaluated. */
static void missing_record(ddad_metrics_record_t *r, const char *category, double limit, const char *why)
{
    ddad_metrics_record_init(r, category, limit);
    snprintf(r->notes, sizeof r->notes, "NOT EVALUATED: %s", why);
}

static bool wanted(const char *list, const char *name)
{
    if (!list)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

/* Evaluates categories of one run (one config); appends records. Returns
 * the number evaluated; *last_st the last failure. keep_going: record
 * failures per category instead of stopping. */
static size_t eval_config(const eval_args_t *a, const ddad_config_t *cfg, const char *only, ddad_metrics_record_t *recs,
                          size_t *n_recs, size_t cap, bool keep_going, ddad_status_t *last_st)
{
    const char *cats[EVAL_MAX_CATEGORIES];
    size_t nc = ddad_config_categories(cfg, cats, EVAL_MAX_CATEGORIES);
    if (nc > EVAL_MAX_CATEGORIES)
        nc = EVAL_MAX_CATEGORIES;
    eval_opts_t o = opts_of(a, cfg);
    eval_ctx_t ctx;
    size_t done = 0;
    ddad_status_t st = eval_ctx_open(&ctx, cfg, &o);
    if (st != DDAD_OK) {
        *last_st = st;
        fprintf(stderr, "ddad-eval: %s\n", ddad_last_error());
        for (size_t i = 0; i < nc && *n_recs < cap; i++)
            if (wanted(only, cats[i]))
                missing_record(&recs[(*n_recs)++], cats[i], o.pro_limit, ddad_last_error());
        return 0;
    }
    for (size_t i = 0; i < nc && *n_recs < cap; i++) {
        if (!wanted(only, cats[i]))
            continue;
        st = eval_ctx_category(&ctx, cats[i], &recs[*n_recs]);
        if (st == DDAD_OK) {
            (*n_recs)++;
            done++;
            continue;
        }
        *last_st = st;
        fprintf(stderr, "ddad-eval: %s\n", ddad_last_error());
        if (!keep_going || st == DDAD_STATUS_INTERRUPTED)
            break;
        missing_record(&recs[(*n_recs)++], cats[i], o.pro_limit, ddad_last_error());
    }
    ddad_status_t ts = eval_ctx_write_thresholds(&ctx);
    if (ts != DDAD_OK) {
        *last_st = ts;
        fprintf(stderr, "ddad-eval: %s\n", ddad_last_error());
    }
    eval_ctx_close(&ctx);
    return done;
}

int eval_configs_all(const eval_args_t *a)
{
    ddad_metrics_record_t recs[EVAL_MAX_CATEGORIES + DDAD_MVTEC_CATEGORY_COUNT];
    const size_t cap = sizeof recs / sizeof recs[0];
    size_t n = 0, done = 0;
    ddad_status_t last = DDAD_OK;
    double limit = isnan(a->pro_limit) ? 0.3 : a->pro_limit;
    if (a->config) {
        ddad_config_t cfg;
        ddad_status_t st = ddad_cli_load_config(&a->cli, a->config, &cfg);
        if (st != DDAD_OK)
            return ddad_cli_fail(&a->cli, st);
        done = eval_config(a, &cfg, a->categories, recs, &n, cap, true, &last);
    } else {
        const char *names[EVAL_MAX_CATEGORIES + DDAD_MVTEC_CATEGORY_COUNT];
        size_t nn = 0;
        char list[4096];
        if (a->categories) {
            snprintf(list, sizeof list, "%s", a->categories);
            for (char *tok = strtok(list, ","); tok && nn < cap; tok = strtok(NULL, ","))
                if (*tok)
                    names[nn++] = tok;
        } else {
            for (size_t i = 0; i < DDAD_MVTEC_CATEGORY_COUNT; i++)
                names[nn++] = ddad_mvtec_categories[i];
        }
        for (size_t i = 0; i < nn && n < cap && !eval_interrupted; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.yaml", a->config_dir, names[i]);
            ddad_config_t cfg;
            struct stat sb;
            if (stat(path, &sb) != 0) {
                char why[4200];
                snprintf(why, sizeof why, "no config %s", path);
                missing_record(&recs[n++], names[i], limit, why);
                continue;
            }
            ddad_status_t st = ddad_cli_load_config(&a->cli, path, &cfg);
            if (st != DDAD_OK) {
                last = st;
                fprintf(stderr, "ddad-eval: %s\n", ddad_last_error());
                missing_record(&recs[n++], names[i], limit, ddad_last_error());
                continue;
            }
            done += eval_config(a, &cfg, names[i], recs, &n, cap, true, &last);
        }
    }
    ddad_status_t st = ddad_report_write(stdout, recs, n, a->format);
    if (st != DDAD_OK)
        return ddad_cli_fail(&a->cli, st);
    if (eval_interrupted)
        return ddad_status_exit_code(DDAD_STATUS_INTERRUPTED);
    if (done == 0) {
        fprintf(stderr, "ddad-eval: nothing could be evaluated\n");
        return ddad_status_exit_code(last != DDAD_OK ? last : DDAD_STATUS_DATA);
    }
    return 0;
}

int eval_configs_one(const eval_args_t *a)
{
    ddad_config_t cfg;
    ddad_status_t st = ddad_cli_load_config(&a->cli, a->config, &cfg);
    if (st != DDAD_OK)
        return ddad_cli_fail(&a->cli, st);
    if (!a->quiet)
        ddad_config_print(&cfg, stderr, DDAD_CONFIG_FORMAT_TABLE);
    ddad_metrics_record_t recs[EVAL_MAX_CATEGORIES];
    size_t n = 0;
    ddad_status_t last = DDAD_OK;
    size_t done = eval_config(a, &cfg, a->categories, recs, &n, EVAL_MAX_CATEGORIES, false, &last);
    if (done == 0 || last != DDAD_OK) {
        fprintf(stderr, "ddad-eval: error: %s\n", ddad_last_error());
        return ddad_status_exit_code(last != DDAD_OK ? last : DDAD_STATUS_DATA);
    }
    st = ddad_report_write(stdout, recs, n, a->format);
    return st == DDAD_OK ? 0 : ddad_cli_fail(&a->cli, st);
}
