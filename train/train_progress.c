/* train/train_progress.c - see train_progress.h */
#include "train_progress.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

void train_progress_init(train_progress_t *p, int log_every, bool quiet)
{
    p->tty = isatty(STDERR_FILENO) != 0;
    p->quiet = quiet;
    p->log_every = log_every > 0 ? log_every : 1;
    p->line_open = false;
    p->loss_avg = 0;
    p->n = 0;
}

void train_progress_format_eta(char *buf, unsigned cap, double seconds)
{
    if (!isfinite(seconds) || seconds < 0)
        seconds = 0;
    long s = lround(seconds);
    if (s >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    else if (s >= 60)
        snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, cap, "%lds", s);
}

void train_progress_step(const ddad_train_stats_t *s, void *user)
{
    train_progress_t *p = user;
    p->loss_avg = p->n == 0 ? s->loss : 0.9 * p->loss_avg + 0.1 * s->loss;
    p->n++;
    if (p->quiet)
        return;
    char eta[32];
    double left = s->it_per_s > 0 ? (double)(s->iterations - s->step) / s->it_per_s : 0;
    train_progress_format_eta(eta, sizeof eta, left);
    if (p->tty) {
        const int width = 24;
        int fill = s->iterations > 0 ? (int)((double)width * (double)s->step / (double)s->iterations) : width;
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r[%s] step %" PRId64 "/%" PRId64 "  loss %.4f  %.2f it/s  ETA %s   ", bar, s->step,
                s->iterations, p->loss_avg, s->it_per_s, eta);
        fflush(stderr);
        p->line_open = true;
        return;
    }
    if (s->step % p->log_every == 0 || s->step == s->iterations) {
        fprintf(stderr,
                "step %" PRId64 "/%" PRId64 "  loss %.5f  mse %.5f  vb %.5f  feat %.5f  lr %.3g  %.2f it/s  ETA %s\n",
                s->step, s->iterations, s->loss, s->mse, s->vb, s->feat, s->lr, s->it_per_s, eta);
        fflush(stderr);
    }
}

void train_progress_finish(train_progress_t *p)
{
    if (p->line_open) {
        fputc('\n', stderr);
        p->line_open = false;
    }
}
