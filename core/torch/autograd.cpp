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

namespace {

// ---------------------------------------------------------------------------
// activation checkpointing: a custom autograd Function around a C callback

// A failure of the C callback, carrying its status through libtorch (the
// autograd engine rethrows the exception it caught, type and all).
struct CheckpointFnError : std::runtime_error {
    ddad_status_t status;
    CheckpointFnError(ddad_status_t st, const std::string &msg) : std::runtime_error(msg), status(st) {}
};

// The thread-local autocast settings (CPU and CUDA), saved at the forward
// pass and put back for the recomputation.
struct AutocastState {
    bool cpu_on, gpu_on;
    at::ScalarType cpu_dtype, gpu_dtype;
};

AutocastState autocast_get()
{
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    return {at::autocast::is_autocast_enabled(at::kCPU), at::autocast::is_autocast_enabled(at::kCUDA),
            at::autocast::get_autocast_dtype(at::kCPU), at::autocast::get_autocast_dtype(at::kCUDA)};
#else
    return {at::autocast::is_cpu_enabled(), at::autocast::is_enabled(), at::autocast::get_autocast_cpu_dtype(),
            at::autocast::get_autocast_gpu_dtype()};
#endif
}

void autocast_put(const AutocastState &s)
{
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(at::kCPU, s.cpu_dtype);
    at::autocast::set_autocast_enabled(at::kCPU, s.cpu_on);
    at::autocast::set_autocast_dtype(at::kCUDA, s.gpu_dtype);
    at::autocast::set_autocast_enabled(at::kCUDA, s.gpu_on);
#else
    at::autocast::set_autocast_cpu_dtype(s.cpu_dtype);
    at::autocast::set_cpu_enabled(s.cpu_on);
    at::autocast::set_autocast_gpu_dtype(s.gpu_dtype);
    at::autocast::set_enabled(s.gpu_on);
#endif
}

// Sets an autocast state for the lifetime of the guard, then restores the
// previous one (dropping the casts cached meanwhile if autocast ends).
struct AutocastGuard {
    AutocastState prev;
    explicit AutocastGuard(const AutocastState &s) : prev(autocast_get()) { autocast_put(s); }
    ~AutocastGuard()
    {
        AutocastState now = autocast_get();
        autocast_put(prev);
        if ((now.cpu_on && !prev.cpu_on) || (now.gpu_on && !prev.gpu_on))
            at::autocast::clear_cache();
    }
};

struct CheckpointCall {
    ddad_checkpoint_fn fn;
    void *user;
};

// fn(inputs) in a scope of its own (also on an autograd worker thread, where
// no scope is open); returns the result, or throws CheckpointFnError.
at::Tensor call_fn(const CheckpointCall &c, const std::vector<at::Tensor> &inputs)
{
    size_t mark = ddad_scope_begin();
    std::vector<ddad_tensor_t *> hs;
    hs.reserve(inputs.size());
    for (const at::Tensor &x : inputs)
        hs.push_back(ddad::wrap(x));
    ddad_tensor_t *o = nullptr;
    ddad_status_t st = c.fn(c.user, hs.data(), hs.size(), &o);
    at::Tensor r;
    std::string msg;
    bool unscoped = false;
    if (st == DDAD_OK && (!o || o->dead || !o->t.defined())) {
        st = DDAD_STATUS_INTERNAL;
        msg = "the checkpointed function returned DDAD_OK without a result";
    } else if (st == DDAD_OK) {
        r = o->t;
        unscoped = !o->scoped;
    } else {
        msg = ddad_last_error();
    }
    ddad_scope_end(mark);
    if (unscoped)
        ddad_tensor_free(o);
    if (st != DDAD_OK)
        throw CheckpointFnError(st, msg);
    return r;
}

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
    static at::Tensor forward(torch::autograd::AutogradContext *ctx, at::TensorList inputs, at::TensorList params,
                              const CheckpointCall *call)
    {
        // grad mode is off here (Function::apply): fn keeps no activations
        at::Tensor out = call_fn(*call, inputs.vec());
        std::vector<at::Tensor> keep = inputs.vec();
        keep.insert(keep.end(), params.begin(), params.end());
        ctx->save_for_backward(keep); // inputs for the recomputation; params for version checks
        ctx->saved_data["n_inputs"] = (int64_t)inputs.size();
        ctx->saved_data["fn"] = (int64_t)reinterpret_cast<intptr_t>(call->fn);
        ctx->saved_data["user"] = (int64_t)reinterpret_cast<intptr_t>(call->user);
        AutocastState ac = autocast_get();
        ctx->saved_data["ac_cpu_on"] = ac.cpu_on;
        ctx->saved_data["ac_gpu_on"] = ac.gpu_on;
        ctx->saved_data["ac_cpu_dtype"] = (int64_t)ac.cpu_dtype;
        ctx->saved_data["ac_gpu_dtype"] = (int64_t)ac.gpu_dtype;
        return out;
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grad_out)
    {
        std::vector<at::Tensor> saved = ctx->get_saved_variables();
        const size_t n_in = (size_t)ctx->saved_data["n_inputs"].toInt();
        CheckpointCall call;
        call.fn = reinterpret_cast<ddad_checkpoint_fn>((intptr_t)ctx->saved_data["fn"].toInt());
        call.user = reinterpret_cast<void *>((intptr_t)ctx->saved_data["user"].toInt());
        AutocastState ac;
        ac.cpu_on = ctx->saved_data["ac_cpu_on"].toBool();
        ac.gpu_on = ctx->saved_data["ac_gpu_on"].toBool();
        ac.cpu_dtype = (at::ScalarType)ctx->saved_data["ac_cpu_dtype"].toInt();
        ac.gpu_dtype = (at::ScalarType)ctx->saved_data["ac_gpu_dtype"].toInt();

        // detached copies of the inputs, so that the recomputed graph ends at them
        std::vector<at::Tensor> xs(n_in);
        for (size_t i = 0; i < n_in; i++) {
            xs[i] = saved[i].detach();
            xs[i].set_requires_grad(saved[i].requires_grad());
        }
        at::Tensor out;
        {
            at::AutoGradMode grad_on(true);
            AutocastGuard autocast(ac);
            out = call_fn(call, xs);
        }
        std::vector<at::Tensor> wrt;
        std::vector<size_t> where; // index into the result of each element of wrt
        for (size_t i = 0; i < saved.size(); i++) {
            const at::Tensor &v = i < n_in ? xs[i] : saved[i];
            if (v.requires_grad()) {
                wrt.push_back(v);
                where.push_back(i);
            }
        }
        torch::autograd::variable_list grads(saved.size() + 1); // + the CheckpointCall argument
        if (!wrt.empty() && out.requires_grad()) {
            auto g = torch::autograd::grad({out}, wrt, {grad_out[0]}, /*retain_graph=*/false,
                                           /*create_graph=*/false, /*allow_unused=*/true);
            for (size_t k = 0; k < g.size(); k++)
                grads[where[k]] = g[k];
        }
        return grads;
    }
};

} // namespace

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
    ddad_status_t fn_status = DDAD_OK; // a checkpointed function failed while recomputing
    std::string fn_msg;
    ddad_status_t st = guard("ddad_backward", {{"loss", loss}}, [&] {
        if (loss->t.numel() != 1)
            throw std::invalid_argument("loss must have exactly one element");
        if (!loss->t.requires_grad())
            throw std::invalid_argument("loss does not depend on any tensor that requires grad "
                                        "(was grad mode off, or requires_grad never set?)");
        try {
            loss->t.backward();
        } catch (const CheckpointFnError &e) { // the engine rethrows the original exception
            fn_status = e.status;
            fn_msg = e.what();
        }
    });
    if (st == DDAD_OK && fn_status != DDAD_OK)
        return ddad_fail(fn_status, "ddad_backward: recomputing a checkpointed block: %s", fn_msg.c_str());
    return st;
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
// activation checkpointing

ddad_status_t ddad_checkpoint(ddad_tensor_t **out, ddad_checkpoint_fn fn, void *user, const ddad_tensor_t *const *inputs,
                              size_t n_inputs, ddad_tensor_t *const *params, size_t n_params)
{
    if (!out || !fn || (!inputs && n_inputs) || (!params && n_params))
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_checkpoint: NULL output, function, input or parameter list");
    for (size_t i = 0; i < n_inputs + n_params; i++) {
        const ddad_tensor_t *t = i < n_inputs ? inputs[i] : params[i - n_inputs];
        if (!t || t->dead || !t->t.defined())
            return ddad_fail(DDAD_STATUS_USAGE, "ddad_checkpoint: %s %zu is NULL, freed or undefined",
                             i < n_inputs ? "input" : "parameter", i < n_inputs ? i : i - n_inputs);
    }
    bool any = false;
    for (size_t i = 0; i < n_inputs; i++)
        any = any || inputs[i]->t.requires_grad();
    for (size_t i = 0; i < n_params; i++)
        any = any || params[i]->t.requires_grad();
    if (!any || !c10::GradMode::is_enabled())
        return fn(user, inputs, n_inputs, out); // nothing to differentiate: a plain call

    ddad_status_t fn_status = DDAD_OK;
    std::string fn_msg;
    ddad_status_t st = run("ddad_checkpoint", out, {}, [&]() -> at::Tensor {
        std::vector<at::Tensor> in, ps;
        for (size_t i = 0; i < n_inputs; i++)
            in.push_back(inputs[i]->t);
        for (size_t i = 0; i < n_params; i++)
            ps.push_back(params[i]->t);
        CheckpointCall call{fn, user};
        try {
            return CheckpointFunction::apply(at::TensorList(in), at::TensorList(ps), &call);
        } catch (const CheckpointFnError &e) {
            fn_status = e.status;
            fn_msg = e.what();
            throw;
        }
    });
    if (fn_status != DDAD_OK)
        return ddad_fail(fn_status, "%s", fn_msg.c_str()); // fn's own message and status
    return st;
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
