// core/torch/autograd.cpp - autograd, mixed precision, generators and the
// AdamW optimizer of the C API declared in tensor.h.
#include "tensor_internal.hpp"

#include <ATen/autocast_mode.h>

#include <cmath>
#include <vector>

using ddad::Arg;
using ddad::guard;
using ddad::run;

struct ddad_adamw {
    std::vector<ddad_tensor_t *> params; // borrowed
    std::vector<ddad_tensor_t *> exp_avg, exp_avg_sq; // owned, one per param
    ddad_adamw_options_t opt;
    int64_t step = 0;
};

extern "C" {

// ---------------------------------------------------------------------------
// autograd

ddad_status_t ddad_set_requires_grad(ddad_tensor_t *t, bool on)
{
    return guard("ddad_set_requires_grad", {{"t", t}}, [&] { t->t.set_requires_grad(on); });
}

bool ddad_requires_grad(const ddad_tensor_t *t) { return t && t->t.defined() && t->t.requires_grad(); }

ddad_status_t ddad_backward(const ddad_tensor_t *loss)
{
    return guard("ddad_backward", {{"loss", loss}}, [&] {
        if (loss->t.numel() != 1)
            throw std::invalid_argument("loss must have exactly one element");
        if (!loss->t.requires_grad())
            throw std::invalid_argument("loss does not depend on any tensor that requires grad "
                                        "(was grad mode off, or requires_grad never set?)");
        loss->t.backward();
    });
}

ddad_status_t ddad_grad(ddad_tensor_t **out, const ddad_tensor_t *t)
{
    if (!out)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_grad: output pointer is NULL");
    at::Tensor g;
    ddad_status_t st = guard("ddad_grad", {{"t", t}}, [&] { g = t->t.grad(); });
    if (st != DDAD_OK)
        return st;
    *out = g.defined() ? ddad::wrap(g) : nullptr;
    return DDAD_OK;
}

void ddad_zero_grad(ddad_tensor_t *t)
{
    if (t && t->t.defined() && t->t.grad().defined())
        t->t.mutable_grad() = at::Tensor();
}

bool ddad_grad_set_enabled(bool on)
{
    bool prev = c10::GradMode::is_enabled();
    c10::GradMode::set_enabled(on);
    return prev;
}

bool ddad_grad_is_enabled(void) { return c10::GradMode::is_enabled(); }

ddad_status_t ddad_clip_grad_norm(ddad_tensor_t *const *params, size_t n, double max_norm, double *total_norm)
{
    return guard("ddad_clip_grad_norm", {}, [&] {
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> grads;
        for (size_t i = 0; i < n; i++)
            if (params[i] && params[i]->t.grad().defined())
                grads.push_back(params[i]->t.grad());
        double total = 0;
        if (!grads.empty()) {
            std::vector<at::Tensor> norms;
            norms.reserve(grads.size());
            for (auto &g : grads)
                norms.push_back(at::linalg_vector_norm(g.to(at::kFloat), 2));
            total = at::linalg_vector_norm(at::stack(norms), 2).item<double>();
        }
        if (total_norm)
            *total_norm = total;
        if (max_norm > 0 && std::isfinite(total) && total > max_norm) {
            double coef = max_norm / (total + 1e-6);
            for (auto &g : grads)
                g.mul_(coef);
        }
    });
}

// ---------------------------------------------------------------------------
// mixed precision

ddad_status_t ddad_autocast_set(bool on, ddad_device_t dev, ddad_dtype_t dt, bool *was_on)
{
    return guard("ddad_autocast_set", {}, [&] {
        at::ScalarType st = ddad::to_scalar_type(dt);
        if (on && st != at::kHalf && st != at::kBFloat16)
            throw std::invalid_argument("autocast dtype must be f16 or bf16");
        if (dev.type == DDAD_DEVICE_TYPE_CPU && on && st != at::kBFloat16)
            throw std::invalid_argument("CPU autocast supports bf16 only");
        at::DeviceType type = dev.type == DDAD_DEVICE_TYPE_CUDA ? at::kCUDA : at::kCPU;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
        if (was_on)
            *was_on = at::autocast::is_autocast_enabled(type);
        if (on)
            at::autocast::set_autocast_dtype(type, st);
        at::autocast::set_autocast_enabled(type, on);
#else
        if (type == at::kCUDA) {
            if (was_on)
                *was_on = at::autocast::is_enabled();
            if (on)
                at::autocast::set_autocast_gpu_dtype(st);
            at::autocast::set_enabled(on);
        } else {
            if (was_on)
                *was_on = at::autocast::is_cpu_enabled();
            if (on)
                at::autocast::set_autocast_cpu_dtype(st);
            at::autocast::set_cpu_enabled(on);
        }
#endif
        if (!on)
            at::autocast::clear_cache();
    });
}

// ---------------------------------------------------------------------------
// generators

ddad_status_t ddad_generator_create(ddad_generator_t **out, uint64_t seed, ddad_device_t dev)
{
    if (!out)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_generator_create: output pointer is NULL");
    ddad_status_t st = ddad_device_check(dev);
    if (st != DDAD_OK)
        return st;
    return guard("ddad_generator_create", {}, [&] {
        at::Generator g;
        if (dev.type == DDAD_DEVICE_TYPE_CUDA)
            g = at::globalContext().defaultGenerator(ddad::to_device(dev)).clone();
        else
            g = at::make_generator<at::CPUGeneratorImpl>(seed);
        g.set_current_seed(seed);
        auto *h = new ddad_generator;
        h->g = g;
        h->dev = dev;
        *out = h;
    });
}

void ddad_generator_free(ddad_generator_t *g) { delete g; }

ddad_status_t ddad_generator_seed(ddad_generator_t *g, uint64_t seed)
{
    if (!g)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_generator_seed: generator is NULL");
    return guard("ddad_generator_seed", {}, [&] {
        std::lock_guard<std::mutex> lock(g->g.mutex());
        g->g.set_current_seed(seed);
    });
}

ddad_status_t ddad_generator_get_state(ddad_generator_t *g, ddad_tensor_t **state)
{
    if (!g)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_generator_get_state: generator is NULL");
    return run("ddad_generator_get_state", state, {}, [&] {
        std::lock_guard<std::mutex> lock(g->g.mutex());
        return g->g.get_state().clone();
    });
}

ddad_status_t ddad_generator_set_state(ddad_generator_t *g, const ddad_tensor_t *state)
{
    if (!g)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_generator_set_state: generator is NULL");
    return guard("ddad_generator_set_state", {{"state", state}}, [&] {
        if (state->t.scalar_type() != at::kByte)
            throw std::invalid_argument("generator state must be a u8 tensor");
        std::lock_guard<std::mutex> lock(g->g.mutex());
        g->g.set_state(state->t.to(at::kCPU).contiguous());
    });
}

// ---------------------------------------------------------------------------
// AdamW

ddad_status_t ddad_adamw_create(ddad_adamw_t **out, ddad_tensor_t *const *params, size_t n, ddad_adamw_options_t opt)
{
    if (!out)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_adamw_create: output pointer is NULL");
    if (!params && n)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_adamw_create: parameter list is NULL");
    if (!(opt.lr >= 0) || !(opt.beta1 >= 0 && opt.beta1 < 1) || !(opt.beta2 >= 0 && opt.beta2 < 1) || !(opt.eps > 0) ||
        !(opt.weight_decay >= 0))
        return ddad_fail(DDAD_STATUS_USAGE,
                         "ddad_adamw_create: invalid options lr=%g betas=(%g, %g) eps=%g weight_decay=%g", opt.lr,
                         opt.beta1, opt.beta2, opt.eps, opt.weight_decay);
    auto *o = new ddad_adamw;
    o->opt = opt;
    ddad_status_t st = guard("ddad_adamw_create", {}, [&] {
        for (size_t i = 0; i < n; i++) {
            if (!params[i] || !params[i]->t.defined())
                throw std::invalid_argument("parameter " + std::to_string(i) + " is NULL or undefined");
            o->params.push_back(params[i]);
        }
        // moments are owned by the optimizer: create them outside any scope
        for (size_t i = 0; i < n; i++) {
            auto *m = new ddad_tensor;
            m->t = at::zeros_like(params[i]->t, at::MemoryFormat::Preserve);
            o->exp_avg.push_back(m);
            auto *v = new ddad_tensor;
            v->t = at::zeros_like(params[i]->t, at::MemoryFormat::Preserve);
            o->exp_avg_sq.push_back(v);
        }
    });
    if (st != DDAD_OK) {
        ddad_adamw_free(o);
        return st;
    }
    *out = o;
    return DDAD_OK;
}

void ddad_adamw_free(ddad_adamw_t *o)
{
    if (!o)
        return;
    for (auto *m : o->exp_avg)
        delete m;
    for (auto *v : o->exp_avg_sq)
        delete v;
    delete o;
}

void ddad_adamw_set_lr(ddad_adamw_t *o, double lr)
{
    if (o)
        o->opt.lr = lr;
}

double ddad_adamw_get_lr(const ddad_adamw_t *o) { return o ? o->opt.lr : 0.0; }

ddad_status_t ddad_adamw_step(ddad_adamw_t *o)
{
    if (!o)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_adamw_step: optimizer is NULL");
    return guard("ddad_adamw_step", {}, [&] {
        at::NoGradGuard no_grad;
        const ddad_adamw_options_t &p = o->opt;
        int64_t step = o->step + 1;
        double bc1 = 1.0 - std::pow(p.beta1, (double)step);
        double bc2_sqrt = std::sqrt(1.0 - std::pow(p.beta2, (double)step));
        double step_size = p.lr / bc1;
        for (size_t i = 0; i < o->params.size(); i++) {
            at::Tensor &w = o->params[i]->t;
            const at::Tensor &g = w.grad();
            if (!g.defined())
                continue;
            at::Tensor &m = o->exp_avg[i]->t;
            at::Tensor &v = o->exp_avg_sq[i]->t;
            // the same sequence of operations as torch.optim.AdamW (single tensor)
            if (p.weight_decay != 0)
                w.mul_(1.0 - p.lr * p.weight_decay);
            m.mul_(p.beta1).add_(g, 1.0 - p.beta1);
            v.mul_(p.beta2).addcmul_(g, g, 1.0 - p.beta2);
            at::Tensor denom = (v.sqrt() / bc2_sqrt).add_(p.eps);
            w.addcdiv_(m, denom, -step_size);
        }
        o->step = step;
    });
}

void ddad_adamw_zero_grad(ddad_adamw_t *o)
{
    if (!o)
        return;
    for (auto *w : o->params)
        ddad_zero_grad(w);
}

int64_t ddad_adamw_get_step(const ddad_adamw_t *o) { return o ? o->step : 0; }

void ddad_adamw_set_step(ddad_adamw_t *o, int64_t step)
{
    if (o)
        o->step = step;
}

ddad_tensor_t *ddad_adamw_exp_avg(ddad_adamw_t *o, size_t i)
{
    return (o && i < o->exp_avg.size()) ? o->exp_avg[i] : nullptr;
}

ddad_tensor_t *ddad_adamw_exp_avg_sq(ddad_adamw_t *o, size_t i)
{
    return (o && i < o->exp_avg_sq.size()) ? o->exp_avg_sq[i] : nullptr;
}

} // extern "C"
