/* train/train_signals.c - see train_signals.h */
#include "train_signals.h"

#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig)
{
    if (!stop_requested) {
        static const char msg[] = "\nddad-train: stopping after this step (writing a checkpoint)...\n";
        ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)r;
    }
    stop_requested = 1;
    stop_signal = sig;
}

void train_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

volatile sig_atomic_t *train_signals_flag(void) { return &stop_requested; }

int train_signals_which(void) { return (int)stop_signal; }
