// core/torch/import.cpp - PyTorch zip checkpoints -> HDF5 weights (import.h).
//
// The zip container is read by libtorch's caffe2::serialize::PyTorchStreamReader
// (records, CRC checks). The pickle inside (data.pkl) is read by the small
// unpickler below rather than by torch::pickle_load: libtorch 1.13's C++
// unpickler turns collections.OrderedDict into None, so it cannot read a
// state_dict saved from nn.Module.state_dict() (the usual case, e.g.
// 256x256_diffusion.pt). This one understands the pickle subset torch.save
// emits (protocols 2-5), builds tensors lazily as (storage record, offset,
// size, stride, dtype) so that keys and shapes are validated before any data
// is read, and treats every other object as opaque.
#include "import.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "h5io.h"
#include "ddad_version.h"

namespace {

// ---------------------------------------------------------------------------
// errors: thrown inside, turned into a status at the C boundary

struct ImportError : std::runtime_error {
    ddad_status_t st;
    bool has_context; // the message already names the file (from h5io)
    ImportError(ddad_status_t s, const std::string &msg, bool ctx = false)
        : std::runtime_error(msg), st(s), has_context(ctx) {}
};

[[noreturn]] void data_error(const std::string &msg) { throw ImportError(DDAD_STATUS_DATA, msg); }

std::string first_line(const char *what)
{
    std::string s(what ? what : "");
    size_t nl = s.find('\n');
    if (nl != std::string::npos)
        s.resize(nl);
    return s;
}

// Records the exception being handled as a failure of `op` on `path`.
ddad_status_t fail_current(const char *op, const char *path)
{
    try {
        throw;
    } catch (const ImportError &e) {
        if (e.has_context)
            return ddad_fail(e.st, "%s", e.what());
        return ddad_fail(e.st, "%s: %s", path, e.what());
    } catch (const std::bad_alloc &) {
        return ddad_fail(DDAD_STATUS_NOMEM, "%s: %s: out of memory", path, op);
    } catch (const c10::Error &e) {
        std::string m = first_line(e.what_without_backtrace());
        if (m.find("central directory") != std::string::npos || m.find("zip archive") != std::string::npos)
            return ddad_fail(DDAD_STATUS_DATA,
                             "%s: the zip archive is truncated or corrupt (%s); download or save it again", path,
                             m.c_str());
        return ddad_fail(DDAD_STATUS_DATA, "%s: %s: %s", path, op, m.c_str());
    } catch (const std::exception &e) {
        return ddad_fail(DDAD_STATUS_DATA, "%s: %s: %s", path, op, first_line(e.what()).c_str());
    } catch (...) {
        return ddad_fail(DDAD_STATUS_INTERNAL, "%s: %s: unknown exception", path, op);
    }
}

std::string shape_str(const std::vector<int64_t> &s)
{
    if (s.empty())
        return "scalar";
    std::string r;
    for (size_t i = 0; i < s.size(); i++) {
        if (i)
            r += "x";
        r += std::to_string(s[i]);
    }
    return r;
}

// ---------------------------------------------------------------------------
// pickle values

struct Value;
using VP = std::shared_ptr<Value>;

struct TensorRef {
    std::string storage_key;       // record "data/<key>"
    at::ScalarType dtype = at::kFloat;
    int64_t storage_numel = 0;
    int64_t offset = 0;
    std::vector<int64_t> size, stride;
};

struct Value {
    enum Kind { NONE, BOOL, INT, FLOAT, STR, BYTES, TUPLE, LIST, DICT, GLOBAL, STORAGE, TENSOR, OBJECT } kind = NONE;
    int64_t i = 0;
    double f = 0;
    std::string s, s2;                       // STR/BYTES text; GLOBAL/OBJECT module, name
    std::vector<VP> items;                   // TUPLE, LIST
    std::vector<std::pair<VP, VP>> dict;     // DICT, in insertion order
    TensorRef t;                             // STORAGE (key, dtype, numel), TENSOR
};

VP mk(Value::Kind k)
{
    auto v = std::make_shared<Value>();
    v->kind = k;
    return v;
}

const char *kind_name(const Value &v)
{
    switch (v.kind) {
    case Value::NONE: return "None";
    case Value::BOOL: return "bool";
    case Value::INT: return "int";
    case Value::FLOAT: return "float";
    case Value::STR: return "str";
    case Value::BYTES: return "bytes";
    case Value::TUPLE: return "tuple";
    case Value::LIST: return "list";
    case Value::DICT: return "dict";
    case Value::GLOBAL: return "class";
    case Value::STORAGE: return "storage";
    case Value::TENSOR: return "tensor";
    case Value::OBJECT: return "object";
    }
    return "?";
}

std::string describe_value(const Value &v)
{
    if (v.kind == Value::OBJECT || v.kind == Value::GLOBAL)
        return std::string(kind_name(v)) + " " + v.s + "." + v.s2;
    return kind_name(v);
}

void dict_set(Value &d, VP k, VP v)
{
    if (k->kind == Value::STR)
        for (auto &kv : d.dict)
            if (kv.first->kind == Value::STR && kv.first->s == k->s) {
                kv.second = std::move(v);
                return;
            }
    d.dict.emplace_back(std::move(k), std::move(v));
}

at::ScalarType storage_dtype(const std::string &name)
{
    static const std::pair<const char *, at::ScalarType> table[] = {
        {"FloatStorage", at::kFloat},   {"DoubleStorage", at::kDouble}, {"HalfStorage", at::kHalf},
        {"BFloat16Storage", at::kBFloat16}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
        {"ShortStorage", at::kShort},   {"CharStorage", at::kChar},     {"ByteStorage", at::kByte},
        {"BoolStorage", at::kBool},     {"UntypedStorage", at::kByte},
    };
    for (const auto &e : table)
        if (name == e.first)
            return e.second;
    data_error("unsupported storage type torch." + name);
}

const char *dtype_name(at::ScalarType st)
{
    switch (st) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return "other";
    }
}

bool is_float_dtype(at::ScalarType st)
{
    return st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16;
}

// ---------------------------------------------------------------------------
// the unpickler

class Unpickler {
  public:
    Unpickler(const uint8_t *p, size_t n) : p_(p), n_(n) {}

    VP run()
    {
        for (;;) {
            size_t at = pos_;
            uint8_t op = u8();
            switch (op) {
            case 0x80: u8(); break;                       // PROTO
            case 0x95: take(8); break;                    // FRAME
            case '.':                                     // STOP
                if (stack_.size() != 1)
                    bad(at, "STOP with a stack of " + std::to_string(stack_.size()));
                return stack_.back();
            case '(': marks_.push_back(stack_.size()); break;
            case ')': push(mk(Value::TUPLE)); break;
            case ']': push(mk(Value::LIST)); break;
            case '}': push(mk(Value::DICT)); break;
            case 0x8f: push(mk(Value::LIST)); break;      // EMPTY_SET
            case 'N': push(mk(Value::NONE)); break;
            case 0x88: case 0x89: {                       // NEWTRUE / NEWFALSE
                VP v = mk(Value::BOOL);
                v->i = op == 0x88;
                push(v);
                break;
            }
            case 'J': push_int((int32_t)le(4)); break;    // BININT
            case 'K': push_int(le(1)); break;             // BININT1
            case 'M': push_int(le(2)); break;             // BININT2
            case 0x8a: {                                  // LONG1
                size_t k = u8();
                if (k > 8)
                    bad(at, "integer of " + std::to_string(k) + " bytes");
                uint64_t x = k ? le(k) : 0;
                if (k && k < 8 && (x >> (8 * k - 1)) & 1)
                    x |= ~uint64_t(0) << (8 * k);         // sign-extend
                push_int((int64_t)x);
                break;
            }
            case 'G': {                                   // BINFLOAT, big endian
                const uint8_t *b = take(8);
                uint64_t x = 0;
                for (int k = 0; k < 8; k++)
                    x = x << 8 | b[k];
                VP v = mk(Value::FLOAT);
                std::memcpy(&v->f, &x, 8);
                push(v);
                break;
            }
            case 'X': push_str(Value::STR, le(4)); break;      // BINUNICODE
            case 0x8c: push_str(Value::STR, le(1)); break;     // SHORT_BINUNICODE
            case 0x8d: push_str(Value::STR, le(8)); break;     // BINUNICODE8
            case 'T': push_str(Value::STR, le(4)); break;      // BINSTRING
            case 'U': push_str(Value::STR, le(1)); break;      // SHORT_BINSTRING
            case 'B': push_str(Value::BYTES, le(4)); break;    // BINBYTES
            case 'C': push_str(Value::BYTES, le(1)); break;    // SHORT_BINBYTES
            case 0x8e: push_str(Value::BYTES, le(8)); break;   // BINBYTES8
            case 'c': {                                        // GLOBAL
                VP g = mk(Value::GLOBAL);
                g->s = line();
                g->s2 = line();
                push(g);
                break;
            }
            case 0x93: {                                       // STACK_GLOBAL
                VP name = pop(), mod = pop();
                if (name->kind != Value::STR || mod->kind != Value::STR)
                    bad(at, "STACK_GLOBAL needs two strings");
                VP g = mk(Value::GLOBAL);
                g->s = mod->s;
                g->s2 = name->s;
                push(g);
                break;
            }
            case 'q': memo_[le(1)] = top(); break;             // BINPUT
            case 'r': memo_[le(4)] = top(); break;             // LONG_BINPUT
            case 0x94: memo_[memo_.size()] = top(); break;     // MEMOIZE
            case 'h': push(get(le(1), at)); break;             // BINGET
            case 'j': push(get(le(4), at)); break;             // LONG_BINGET
            case 't': {                                        // TUPLE
                VP v = mk(Value::TUPLE);
                v->items = pop_mark(at);
                push(v);
                break;
            }
            case 0x85: case 0x86: case 0x87: {                 // TUPLE1..3
                size_t k = op - 0x84;
                if (stack_.size() < k)
                    bad(at, "stack underflow");
                VP v = mk(Value::TUPLE);
                v->items.assign(stack_.end() - k, stack_.end());
                stack_.resize(stack_.size() - k);
                push(v);
                break;
            }
            case 'l': {                                        // LIST
                VP v = mk(Value::LIST);
                v->items = pop_mark(at);
                push(v);
                break;
            }
            case 'a': {                                        // APPEND
                VP x = pop();
                VP l = top();
                if (l->kind != Value::LIST)
                    bad(at, "APPEND to a " + std::string(kind_name(*l)));
                l->items.push_back(x);
                break;
            }
            case 'e': case 0x90: {                             // APPENDS, ADDITEMS
                std::vector<VP> xs = pop_mark(at);
                VP l = top();
                if (l->kind != Value::LIST)
                    bad(at, "APPENDS to a " + std::string(kind_name(*l)));
                l->items.insert(l->items.end(), xs.begin(), xs.end());
                break;
            }
            case 0x91: {                                       // FROZENSET
                VP v = mk(Value::LIST);
                v->items = pop_mark(at);
                push(v);
                break;
            }
            case 'd': {                                        // DICT
                std::vector<VP> xs = pop_mark(at);
                if (xs.size() % 2)
                    bad(at, "DICT with an odd number of items");
                VP d = mk(Value::DICT);
                for (size_t k = 0; k < xs.size(); k += 2)
                    dict_set(*d, xs[k], xs[k + 1]);
                push(d);
                break;
            }
            case 's': {                                        // SETITEM
                VP v = pop(), k = pop();
                VP d = top();
                if (d->kind != Value::DICT)
                    bad(at, "SETITEM on a " + describe_value(*d));
                dict_set(*d, k, v);
                break;
            }
            case 'u': {                                        // SETITEMS
                std::vector<VP> xs = pop_mark(at);
                VP d = top();
                if (d->kind != Value::DICT)
                    bad(at, "SETITEMS on a " + describe_value(*d));
                if (xs.size() % 2)
                    bad(at, "SETITEMS with an odd number of items");
                for (size_t k = 0; k < xs.size(); k += 2)
                    dict_set(*d, xs[k], xs[k + 1]);
                break;
            }
            case 'R': {                                        // REDUCE
                VP args = pop(), fn = pop();
                push(reduce(*fn, *args, at));
                break;
            }
            case 0x81: {                                       // NEWOBJ
                pop();
                VP cls = pop();
                push(object_of(*cls));
                break;
            }
            case 0x92: {                                       // NEWOBJ_EX
                pop();
                pop();
                VP cls = pop();
                push(object_of(*cls));
                break;
            }
            case 'b': pop(); top(); break;                     // BUILD: state of an object, unused
            case 'Q': {                                        // BINPERSID
                VP pid = pop();
                push(persistent(*pid, at));
                break;
            }
            case '0': pop(); break;                            // POP
            case '1': pop_mark(at); break;                     // POP_MARK
            case '2': push(top()); break;                      // DUP
            default: {
                char buf[64];
                std::snprintf(buf, sizeof buf, "unsupported opcode 0x%02x", op);
                bad(at, buf);
            }
            }
        }
    }

  private:
    const uint8_t *p_;
    size_t n_, pos_ = 0;
    std::vector<VP> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, VP> memo_;

    [[noreturn]] void bad(size_t at, const std::string &what)
    {
        data_error("data.pkl is not a readable checkpoint pickle (byte " + std::to_string(at) + ": " + what + ")");
    }
    const uint8_t *take(size_t k)
    {
        if (k > n_ - pos_)
            bad(pos_, "unexpected end of data");
        const uint8_t *r = p_ + pos_;
        pos_ += k;
        return r;
    }
    uint8_t u8() { return *take(1); }
    uint64_t le(size_t k)
    {
        const uint8_t *b = take(k);
        uint64_t x = 0;
        for (size_t i = k; i-- > 0;)
            x = x << 8 | b[i];
        return x;
    }
    std::string line()
    {
        size_t start = pos_;
        while (pos_ < n_ && p_[pos_] != '\n')
            pos_++;
        if (pos_ >= n_)
            bad(start, "unterminated GLOBAL name");
        std::string s((const char *)p_ + start, pos_ - start);
        pos_++;
        return s;
    }
    void push(VP v) { stack_.push_back(std::move(v)); }
    void push_int(int64_t x)
    {
        VP v = mk(Value::INT);
        v->i = x;
        push(v);
    }
    void push_str(Value::Kind k, uint64_t len)
    {
        if (len > n_ - pos_)
            bad(pos_, "string runs past the end of data");
        VP v = mk(k);
        v->s.assign((const char *)take(len), len);
        push(v);
    }
    VP pop()
    {
        if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
            bad(pos_, "stack underflow");
        VP v = std::move(stack_.back());
        stack_.pop_back();
        return v;
    }
    VP top()
    {
        if (stack_.empty())
            bad(pos_, "stack underflow");
        return stack_.back();
    }
    VP get(uint64_t k, size_t at)
    {
        auto it = memo_.find(k);
        if (it == memo_.end())
            bad(at, "memo key " + std::to_string(k) + " undefined");
        return it->second;
    }
    std::vector<VP> pop_mark(size_t at)
    {
        if (marks_.empty())
            bad(at, "no MARK");
        size_t m = marks_.back();
        marks_.pop_back();
        std::vector<VP> xs(stack_.begin() + (std::ptrdiff_t)m, stack_.end());
        stack_.resize(m);
        return xs;
    }
    static VP object_of(const Value &cls)
    {
        VP o = mk(Value::OBJECT);
        if (cls.kind == Value::GLOBAL) {
            o->s = cls.s;
            o->s2 = cls.s2;
        }
        return o;
    }
    static std::vector<int64_t> ints(const Value &v, const char *what, size_t at, Unpickler *self)
    {
        if (v.kind != Value::TUPLE && v.kind != Value::LIST)
            self->bad(at, std::string(what) + " is not a tuple");
        std::vector<int64_t> r;
        for (const VP &x : v.items) {
            if (x->kind != Value::INT)
                self->bad(at, std::string(what) + " holds a non-integer");
            r.push_back(x->i);
        }
        return r;
    }
    VP reduce(const Value &fn, const Value &args, size_t at)
    {
        if (fn.kind != Value::GLOBAL)
            return object_of(fn);
        const std::string name = fn.s + "." + fn.s2;
        if (name == "collections.OrderedDict" || name == "builtins.dict" || name == "__builtin__.dict") {
            VP d = mk(Value::DICT);
            if (args.kind == Value::TUPLE && !args.items.empty() && args.items[0]->kind == Value::LIST)
                for (const VP &kv : args.items[0]->items)
                    if (kv->kind == Value::TUPLE && kv->items.size() == 2)
                        dict_set(*d, kv->items[0], kv->items[1]);
            return d;
        }
        if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
            if (args.kind != Value::TUPLE || args.items.size() < 4 || args.items[0]->kind != Value::STORAGE ||
                args.items[1]->kind != Value::INT)
                bad(at, name + " with unexpected arguments");
            VP t = mk(Value::TENSOR);
            t->t = args.items[0]->t;
            t->t.offset = args.items[1]->i;
            t->t.size = ints(*args.items[2], "tensor size", at, this);
            t->t.stride = ints(*args.items[3], "tensor stride", at, this);
            if (t->t.size.size() != t->t.stride.size() || t->t.size.size() > DDAD_CHECKPOINT_MAX_DIMS)
                bad(at, "tensor with " + std::to_string(t->t.size.size()) + " sizes and " +
                            std::to_string(t->t.stride.size()) + " strides");
            return t;
        }
        if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
            if (args.kind != Value::TUPLE || args.items.empty() || args.items[0]->kind != Value::TENSOR)
                bad(at, name + " with unexpected arguments");
            return args.items[0];
        }
        return object_of(fn);
    }
    VP persistent(const Value &pid, size_t at)
    {
        // ('storage', storage_type, key, location, numel)
        if (pid.kind != Value::TUPLE || pid.items.size() < 5 || pid.items[0]->kind != Value::STR ||
            pid.items[0]->s != "storage" || pid.items[1]->kind != Value::GLOBAL || pid.items[2]->kind != Value::STR ||
            pid.items[4]->kind != Value::INT)
            bad(at, "persistent id is not a tensor storage");
        VP st = mk(Value::STORAGE);
        st->t.dtype = storage_dtype(pid.items[1]->s2);
        st->t.storage_key = pid.items[2]->s;
        st->t.storage_numel = pid.items[4]->i;
        if (st->t.storage_numel < 0)
            bad(at, "negative storage size");
        return st;
    }
};

// ---------------------------------------------------------------------------
// checkpoints

struct Entry {
    std::string key;
    TensorRef t;
    int64_t numel() const
    {
        int64_t n = 1;
        for (int64_t s : t.size)
            n *= s;
        return n;
    }
};

const char kLegacyMagic[] = {'\x80', '\x02', '\x8a', '\x0a', '\x6c', '\xfc', '\x9c', '\x46', '\xf9', '\x20', '\x6a', '\xa8', '\x50', '\x19'};

std::string converter_hint(const char *path)
{
    return std::string("convert it once with Python: /usr/bin/python3 experiments/convert_legacy_checkpoint.py '") +
           path + "' NEW.pt, then import NEW.pt";
}

// Checks the first bytes: a zip, or a clear error for what it is instead.
void check_magic(const char *path)
{
    FILE *f = std::fopen(path, "rb");
    if (!f)
        throw ImportError(DDAD_STATUS_IO, std::string("cannot open: ") + std::strerror(errno));
    unsigned char b[512] = {0};
    size_t n = std::fread(b, 1, sizeof b, f);
    std::fclose(f);
    if (n >= 4 && !std::memcmp(b, "PK\x03\x04", 4))
        return;
    if (n >= sizeof kLegacyMagic && !std::memcmp(b, kLegacyMagic, sizeof kLegacyMagic))
        data_error("legacy (pre-1.6) PyTorch checkpoint: the C++ loader reads only the zip format that torch.save "
                   "writes since PyTorch 1.6; " + converter_hint(path));
    if (n >= 262 && !std::memcmp(b + 257, "ustar", 5))
        data_error("legacy tar-format PyTorch checkpoint (PyTorch < 0.4); " + converter_hint(path));
    if (n == 0)
        data_error("empty file, not a PyTorch checkpoint");
    if (b[0] == 0x80 && n >= 2 && b[1] <= 5)
        data_error("a plain pickle, not a PyTorch zip checkpoint; if torch.load reads it, " + converter_hint(path));
    data_error("not a PyTorch checkpoint (no zip signature PK\\x03\\x04 at the start); expected a file written by "
               "torch.save");
}

struct Checkpoint {
    std::string path;
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
    std::vector<Entry> entries;
    std::string container;
};

bool is_tensor_dict(const Value &d)
{
    if (d.kind != Value::DICT)
        return false;
    for (const auto &kv : d.dict)
        if (kv.first->kind != Value::STR || kv.second->kind != Value::TENSOR)
            return false;
    return true;
}

void open_checkpoint(Checkpoint &ck, const char *path)
{
    check_magic(path);
    try {
        ck.reader.reset(new caffe2::serialize::PyTorchStreamReader(std::string(path)));
    } catch (const c10::Error &e) {
        std::string m = first_line(e.what_without_backtrace());
        if (m.rfind("[enforce fail", 0) == 0 && m.find("] ") != std::string::npos)
            m = m.substr(m.find("] ") + 2);
        while (!m.empty() && (m[0] == '.' || m[0] == ' '))
            m.erase(0, 1);
        if (m.find("central directory") != std::string::npos || m.find("zip archive") != std::string::npos)
            data_error("the zip archive is truncated or corrupt (" + m + "); download or save it again");
        data_error("a zip archive, but not a PyTorch checkpoint written by torch.save (" + m + ")");
    }
    ck.path = path;
    if (ck.reader->hasRecord("byteorder")) {
        auto rec = ck.reader->getRecord("byteorder");
        std::string bo((const char *)std::get<0>(rec).get(), std::get<1>(rec));
        if (bo != "little")
            data_error("tensors stored in '" + bo + "' byte order; only little-endian checkpoints are supported");
    }
    if (!ck.reader->hasRecord("data.pkl"))
        data_error("a zip file without data.pkl: not a checkpoint written by torch.save");
    auto rec = ck.reader->getRecord("data.pkl");
    Unpickler up((const uint8_t *)std::get<0>(rec).get(), std::get<1>(rec));
    VP root = up.run();

    const Value *sd = root.get();
    if (sd->kind == Value::DICT && !is_tensor_dict(*sd)) {
        for (const char *name : {"state_dict", "model"})
            for (const auto &kv : sd->dict)
                if (kv.first->kind == Value::STR && kv.first->s == name && kv.second->kind == Value::DICT) {
                    if (ck.container.empty()) {
                        ck.container = name;
                        sd = kv.second.get();
                    }
                }
    }
    if (sd->kind != Value::DICT) {
        std::string what = describe_value(*sd);
        if (sd->kind == Value::OBJECT && sd->s.rfind("__torch__", 0) == 0)
            what += " (a TorchScript archive; save the model's state_dict() instead)";
        data_error("holds a " + what + ", not a state_dict (a dict of tensors)");
    }
    for (const auto &kv : sd->dict) {
        if (kv.first->kind != Value::STR)
            data_error("state_dict" + (ck.container.empty() ? "" : " in '" + ck.container + "'") +
                       " has a non-string key (" + kind_name(*kv.first) +
                       "); expected a dict of tensors, or a container with 'state_dict' or 'model'");
        if (kv.second->kind != Value::TENSOR)
            data_error("key '" + kv.first->s + "' holds a " + describe_value(*kv.second) +
                       ", not a tensor; expected a dict of tensors, or a container with 'state_dict' or 'model'");
        Entry e;
        e.key = kv.first->s;
        e.t = kv.second->t;
        for (size_t d = 0; d < e.t.size.size(); d++)
            if (e.t.size[d] < 0)
                data_error("key '" + e.key + "' has a negative size");
        ck.entries.push_back(std::move(e));
    }
}

// CRC-32 (zip's polynomial), to catch corrupt records: libtorch's zip reader
// is built without miniz's CRC checks.
uint32_t crc32(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    static bool init = [] {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        return true;
    }();
    (void)init;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint64_t rd_le(const uint8_t *b, int k)
{
    uint64_t x = 0;
    for (int i = k; i-- > 0;)
        x = x << 8 | b[i];
    return x;
}

// torch.save writes every record followed by a zip data descriptor
// (PK\x07\x08, CRC-32, sizes); when it is there, the record's bytes must match.
void check_crc(Checkpoint &ck, const std::string &name, const uint8_t *data, size_t bytes, const std::string &key)
{
    size_t off = ck.reader->getRecordOffset(name);
    FILE *f = std::fopen(ck.path.c_str(), "rb");
    if (!f)
        throw ImportError(DDAD_STATUS_IO, std::string("cannot reopen: ") + std::strerror(errno));
    uint8_t d[24];
    size_t got = 0;
    if (fseeko(f, (off_t)(off + bytes), SEEK_SET) == 0)
        got = std::fread(d, 1, sizeof d, f);
    std::fclose(f);
    if (got < 16 || std::memcmp(d, "PK\x07\x08", 4) != 0)
        return;
    bool sizes32 = rd_le(d + 8, 4) == bytes && rd_le(d + 12, 4) == bytes;
    bool sizes64 = got >= 24 && rd_le(d + 8, 8) == bytes && rd_le(d + 16, 8) == bytes;
    if (!sizes32 && !sizes64)
        return;
    uint32_t want = (uint32_t)rd_le(d + 4, 4), have = crc32(data, bytes);
    if (want != have) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%08x, recorded %08x", have, want);
        data_error("record " + name + " (key '" + key + "') fails its CRC-32 check (" + buf +
                   "): the file is corrupt; download or save it again");
    }
}

// Reads the tensor of e as a contiguous float32 tensor.
at::Tensor read_f32(Checkpoint &ck, const Entry &e)
{
    const TensorRef &t = e.t;
    size_t esz = c10::elementSize(t.dtype);
    auto rec = ck.reader->getRecord("data/" + t.storage_key);
    at::DataPtr &ptr = std::get<0>(rec);
    size_t bytes = std::get<1>(rec);
    check_crc(ck, "data/" + t.storage_key, (const uint8_t *)ptr.get(), bytes, e.key);
    if (bytes < (size_t)t.storage_numel * esz)
        data_error("key '" + e.key + "': storage record data/" + t.storage_key + " holds " + std::to_string(bytes) +
                   " bytes, " + std::to_string((size_t)t.storage_numel * esz) + " expected");
    int64_t last = t.offset;
    bool empty = false;
    for (size_t d = 0; d < t.size.size(); d++) {
        if (t.size[d] == 0)
            empty = true;
        else if (t.stride[d] < 0)
            data_error("key '" + e.key + "' has a negative stride");
        else
            last += (t.size[d] - 1) * t.stride[d];
    }
    if (empty)
        return at::empty(t.size, at::kFloat);
    if (t.offset < 0 || last >= t.storage_numel)
        data_error("key '" + e.key + "' (" + shape_str(t.size) + ") reaches past the end of its storage of " +
                   std::to_string(t.storage_numel) + " elements");
    at::Tensor base = at::from_blob(ptr.get(), {t.storage_numel}, at::TensorOptions().dtype(t.dtype));
    at::Tensor v = base.as_strided(t.size, t.stride, t.offset);
    return v.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true).contiguous();
}

// ---------------------------------------------------------------------------
// expected layouts

struct Spec {
    std::string key;
    std::vector<int64_t> shape;
};

struct Layout {
    std::vector<Spec> required, optional;
};

void add(std::vector<Spec> &v, std::string key, std::vector<int64_t> shape)
{
    v.push_back(Spec{std::move(key), std::move(shape)});
}

// BatchNorm / GroupNorm affine parameters (+ running statistics for BN).
void add_bn(std::vector<Spec> &v, const std::string &p, int64_t c)
{
    for (const char *s : {"weight", "bias", "running_mean", "running_var"})
        add(v, p + "." + s, {c});
}

// guided-diffusion UNetModel (openai/guided-diffusion unet.py), with
// use_scale_shift_norm and resblock_updown.
struct AdmConfig {
    int64_t in_channels = 3, model_channels = 256, out_channels = 6, num_res_blocks = 2;
    std::vector<int64_t> channel_mult{1, 1, 2, 2, 4, 4};
    std::vector<int64_t> attention_ds{8, 16, 32};
    int64_t num_classes = 1000;
};

void adm_resblock(std::vector<Spec> &v, const std::string &p, int64_t ch, int64_t out, int64_t emb)
{
    add(v, p + ".in_layers.0.weight", {ch});
    add(v, p + ".in_layers.0.bias", {ch});
    add(v, p + ".in_layers.2.weight", {out, ch, 3, 3});
    add(v, p + ".in_layers.2.bias", {out});
    add(v, p + ".emb_layers.1.weight", {2 * out, emb});
    add(v, p + ".emb_layers.1.bias", {2 * out});
    add(v, p + ".out_layers.0.weight", {out});
    add(v, p + ".out_layers.0.bias", {out});
    add(v, p + ".out_layers.3.weight", {out, out, 3, 3});
    add(v, p + ".out_layers.3.bias", {out});
    if (out != ch) {
        add(v, p + ".skip_connection.weight", {out, ch, 1, 1});
        add(v, p + ".skip_connection.bias", {out});
    }
}

void adm_attention(std::vector<Spec> &v, const std::string &p, int64_t ch)
{
    add(v, p + ".norm.weight", {ch});
    add(v, p + ".norm.bias", {ch});
    add(v, p + ".qkv.weight", {3 * ch, ch, 1});
    add(v, p + ".qkv.bias", {3 * ch});
    add(v, p + ".proj_out.weight", {ch, ch, 1});
    add(v, p + ".proj_out.bias", {ch});
}

// Every key of the UNet in state_dict order; label_emb goes to `label`.
void adm_layout(const AdmConfig &c, std::vector<Spec> &v, std::vector<Spec> &label)
{
    const int64_t mc = c.model_channels, emb = 4 * mc;
    auto has_attn = [&](int64_t ds) {
        for (int64_t a : c.attention_ds)
            if (a == ds)
                return true;
        return false;
    };
    add(v, "time_embed.0.weight", {emb, mc});
    add(v, "time_embed.0.bias", {emb});
    add(v, "time_embed.2.weight", {emb, emb});
    add(v, "time_embed.2.bias", {emb});
    if (c.num_classes > 0)
        add(label, "label_emb.weight", {c.num_classes, emb});
    int64_t ch = c.channel_mult[0] * mc, input_ch = ch, ds = 1;
    add(v, "input_blocks.0.0.weight", {ch, c.in_channels, 3, 3});
    add(v, "input_blocks.0.0.bias", {ch});
    std::vector<int64_t> chans{ch};
    int blk = 1;
    for (size_t level = 0; level < c.channel_mult.size(); level++) {
        for (int64_t r = 0; r < c.num_res_blocks; r++) {
            std::string p = "input_blocks." + std::to_string(blk++);
            int64_t out = c.channel_mult[level] * mc;
            adm_resblock(v, p + ".0", ch, out, emb);
            ch = out;
            if (has_attn(ds))
                adm_attention(v, p + ".1", ch);
            chans.push_back(ch);
        }
        if (level + 1 != c.channel_mult.size()) {
            adm_resblock(v, "input_blocks." + std::to_string(blk++) + ".0", ch, ch, emb);
            chans.push_back(ch);
            ds *= 2;
        }
    }
    adm_resblock(v, "middle_block.0", ch, ch, emb);
    adm_attention(v, "middle_block.1", ch);
    adm_resblock(v, "middle_block.2", ch, ch, emb);
    blk = 0;
    for (size_t level = c.channel_mult.size(); level-- > 0;) {
        for (int64_t r = 0; r <= c.num_res_blocks; r++) {
            std::string p = "output_blocks." + std::to_string(blk++);
            int64_t ich = chans.back();
            chans.pop_back();
            int64_t out = c.channel_mult[level] * mc;
            adm_resblock(v, p + ".0", ch + ich, out, emb);
            ch = out;
            int sub = 1;
            if (has_attn(ds))
                adm_attention(v, p + "." + std::to_string(sub++), ch);
            if (level && r == c.num_res_blocks) {
                adm_resblock(v, p + "." + std::to_string(sub++), ch, ch, emb);
                ds /= 2;
            }
        }
    }
    add(v, "out.0.weight", {ch});
    add(v, "out.0.bias", {ch});
    add(v, "out.2.weight", {c.out_channels, input_ch, 3, 3});
    add(v, "out.2.bias", {c.out_channels});
}

// lukemelas EfficientNet-B4: B0's seven stages scaled by width 1.4 and depth
// 1.8 (round_filters / round_repeats), squeeze ratio 0.25.
void effnet_b4_layout(std::vector<Spec> &req, std::vector<Spec> &opt)
{
    struct Stage {
        int repeats, kernel, expand, in, out;
    };
    static const Stage stages[] = {{2, 3, 1, 48, 24},  {4, 3, 6, 24, 32},   {4, 5, 6, 32, 56},  {6, 3, 6, 56, 112},
                                   {6, 5, 6, 112, 160}, {8, 5, 6, 160, 272}, {2, 3, 6, 272, 448}};
    add(req, "_conv_stem.weight", {48, 3, 3, 3});
    add_bn(req, "_bn0", 48);
    int b = 0;
    for (const Stage &s : stages)
        for (int r = 0; r < s.repeats; r++, b++) {
            std::string p = "_blocks." + std::to_string(b);
            int64_t in = r ? s.out : s.in, mid = in * s.expand, se = std::max<int64_t>(1, in / 4);
            if (s.expand != 1) {
                add(req, p + "._expand_conv.weight", {mid, in, 1, 1});
                add_bn(req, p + "._bn0", mid);
            }
            add(req, p + "._depthwise_conv.weight", {mid, 1, s.kernel, s.kernel});
            add_bn(req, p + "._bn1", mid);
            add(req, p + "._se_reduce.weight", {se, mid, 1, 1});
            add(req, p + "._se_reduce.bias", {se});
            add(req, p + "._se_expand.weight", {mid, se, 1, 1});
            add(req, p + "._se_expand.bias", {mid});
            add(req, p + "._project_conv.weight", {s.out, mid, 1, 1});
            add_bn(req, p + "._bn2", s.out);
        }
    add(opt, "_conv_head.weight", {1792, 448, 1, 1});
    add_bn(opt, "_bn1", 1792);
}

// torchvision wide_resnet50_2: Bottleneck blocks (3, 4, 6, 3), width twice
// ResNet-50's, expansion 4.
void wrn50_2_layout(std::vector<Spec> &req)
{
    add(req, "conv1.weight", {64, 3, 7, 7});
    add_bn(req, "bn1", 64);
    static const int blocks[] = {3, 4, 6, 3};
    int64_t inplanes = 64;
    for (int l = 0; l < 4; l++) {
        int64_t planes = 64 << l, width = planes * 2, out = planes * 4;
        for (int b = 0; b < blocks[l]; b++) {
            std::string p = "layer" + std::to_string(l + 1) + "." + std::to_string(b);
            add(req, p + ".conv1.weight", {width, inplanes, 1, 1});
            add_bn(req, p + ".bn1", width);
            add(req, p + ".conv2.weight", {width, width, 3, 3});
            add_bn(req, p + ".bn2", width);
            add(req, p + ".conv3.weight", {out, width, 1, 1});
            add_bn(req, p + ".bn3", out);
            if (b == 0) {
                add(req, p + ".downsample.0.weight", {out, inplanes, 1, 1});
                add_bn(req, p + ".downsample.1", out);
            }
            inplanes = out;
        }
    }
}

Layout layout_of(ddad_import_kind_t kind)
{
    Layout L;
    std::vector<Spec> label;
    switch (kind) {
    case DDAD_IMPORT_ADM256: adm_layout(AdmConfig(), L.required, label); break;
    case DDAD_IMPORT_EFFNET_B4: effnet_b4_layout(L.required, L.optional); break;
    case DDAD_IMPORT_WRN50_2: wrn50_2_layout(L.required); break;
    default: throw ImportError(DDAD_STATUS_USAGE, std::string("kind ") + ddad_import_kind_str(kind) + " has no fixed layout");
    }
    return L;
}

bool starts_with(const std::string &s, const char *p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string &s, const char *p)
{
    size_t n = std::strlen(p);
    return s.size() >= n && s.compare(s.size() - n, n, p) == 0;
}

// Is key dropped by this kind?
bool dropped(ddad_import_kind_t kind, const std::string &key)
{
    if (ends_with(key, ".num_batches_tracked"))
        return true;
    switch (kind) {
    case DDAD_IMPORT_ADM256: return key == "label_emb.weight";
    case DDAD_IMPORT_EFFNET_B4: return starts_with(key, "_fc.");
    case DDAD_IMPORT_WRN50_2: return starts_with(key, "fc.");
    default: return false;
    }
}

const Entry *find_entry(const std::vector<Entry> &es, const std::string &key)
{
    for (const Entry &e : es)
        if (e.key == key)
            return &e;
    return nullptr;
}

ddad_import_kind_t guess(const std::vector<Entry> &es)
{
    if (find_entry(es, "_conv_stem.weight") && find_entry(es, "_blocks.0._depthwise_conv.weight"))
        return DDAD_IMPORT_EFFNET_B4;
    if (find_entry(es, "conv1.weight") && find_entry(es, "layer1.0.conv1.weight"))
        return DDAD_IMPORT_WRN50_2;
    const Entry *in0 = find_entry(es, "input_blocks.0.0.weight");
    if (in0 && find_entry(es, "time_embed.0.weight")) {
        // The published OpenAI layout: 256 channels, 1000 classes (or none), no feature head.
        bool openai = in0->t.size == std::vector<int64_t>{256, 3, 3, 3} && find_entry(es, "input_blocks.17.1.qkv.weight");
        const Entry *lab = find_entry(es, "label_emb.weight");
        if (lab && (lab->t.size.empty() || lab->t.size[0] != 1000))
            openai = false;
        for (const Entry &e : es)
            if (starts_with(e.key, "feat_rec1."))
                openai = false;
        return openai ? DDAD_IMPORT_ADM256 : DDAD_IMPORT_ADM;
    }
    std::string first;
    for (size_t i = 0; i < es.size() && i < 3; i++)
        first += (i ? ", '" : "'") + es[i].key + "'";
    data_error("cannot guess the kind of checkpoint from its keys (" + (first.empty() ? "none" : first) +
               (es.size() > 3 ? ", ..." : "") + "); pass --kind adm256|adm|effnet-b4|wrn50-2");
}

// Validates the entries against kind; throws a DATA error naming the first
// offending key.
void validate(const std::vector<Entry> &es, ddad_import_kind_t kind)
{
    const char *kname = ddad_import_kind_str(kind);
    if (kind == DDAD_IMPORT_ADM) {
        static const char *const prefixes[] = {"time_embed.", "label_emb.", "input_blocks.", "middle_block.",
                                               "output_blocks.", "out.", "feat_rec1."};
        for (const Entry &e : es) {
            bool ok = false;
            for (const char *p : prefixes)
                ok = ok || starts_with(e.key, p);
            if (!ok)
                data_error("key '" + e.key + "' is not part of an ADM UNet (keys start with time_embed., "
                           "label_emb., input_blocks., middle_block., output_blocks., out. or feat_rec1.); "
                           "is --kind adm right?");
        }
        for (const char *k : {"time_embed.0.weight", "input_blocks.0.0.weight", "out.2.weight"})
            if (!find_entry(es, k))
                data_error(std::string("missing key '") + k + "' of an ADM UNet; is --kind adm right?");
        return;
    }
    Layout L = layout_of(kind);
    std::unordered_map<std::string, const Spec *> known;
    for (const Spec &s : L.required)
        known[s.key] = &s;
    for (const Spec &s : L.optional)
        known[s.key] = &s;
    size_t n_found = 0;
    for (const Spec &s : L.required)
        n_found += find_entry(es, s.key) != nullptr;
    if (n_found == 0) {
        std::string hint;
        try {
            ddad_import_kind_t g = guess(es);
            hint = "; its keys look like --kind " + std::string(ddad_import_kind_str(g));
        } catch (const ImportError &) {
        }
        data_error(std::string("not a ") + kname + " checkpoint: none of the expected keys is present (first: '" +
                   L.required[0].key + "' " + shape_str(L.required[0].shape) + ")" + hint);
    }
    for (const Spec &s : L.required) {
        const Entry *e = find_entry(es, s.key);
        if (!e)
            data_error(std::string("missing key '") + s.key + "' (expected shape " + shape_str(s.shape) + ") of the " +
                       kname + " layout");
    }
    for (const Entry &e : es) {
        if (dropped(kind, e.key))
            continue;
        auto it = known.find(e.key);
        if (it == known.end())
            data_error("unexpected key '" + e.key + "' (" + shape_str(e.t.size) + ") for the " + kname +
                       " layout; is --kind " + kname + " right?");
        if (e.t.size != it->second->shape)
            data_error("key '" + e.key + "' has shape " + shape_str(e.t.size) + ", expected " +
                       shape_str(it->second->shape) + " in the " + kname + " layout");
    }
}

std::string base_name(const char *path)
{
    const char *s = std::strrchr(path, '/');
    return s ? s + 1 : path;
}

void fill_entry(ddad_checkpoint_entry_t &out, const std::string &key, const std::vector<int64_t> &shape,
                at::ScalarType dt)
{
    out.key = strdup(key.c_str());
    if (!out.key)
        throw std::bad_alloc();
    out.ndim = (int)shape.size();
    out.numel = 1;
    for (size_t d = 0; d < shape.size(); d++) {
        out.shape[d] = shape[d];
        out.numel *= shape[d];
    }
    std::snprintf(out.dtype, sizeof out.dtype, "%s", dtype_name(dt));
}

// A C array of entries that frees itself unless released.
struct EntryArray {
    ddad_checkpoint_entry_t *p = nullptr;
    size_t n = 0;
    explicit EntryArray(size_t cap)
    {
        p = (ddad_checkpoint_entry_t *)std::calloc(cap ? cap : 1, sizeof *p);
        if (!p)
            throw std::bad_alloc();
    }
    ~EntryArray() { ddad_checkpoint_list_free(p, n); }
    ddad_checkpoint_entry_t *release()
    {
        ddad_checkpoint_entry_t *r = p;
        p = nullptr;
        n = 0;
        return r;
    }
};

void h5_check(ddad_status_t st)
{
    if (st != DDAD_OK)
        throw ImportError(st, ddad_last_error(), true);
}

} // namespace

extern "C" {

void ddad_checkpoint_list_free(ddad_checkpoint_entry_t *entries, size_t n)
{
    if (!entries)
        return;
    for (size_t i = 0; i < n; i++)
        std::free(entries[i].key);
    std::free(entries);
}

ddad_status_t ddad_checkpoint_list(const char *in, ddad_checkpoint_entry_t **entries, size_t *n, char *container)
{
    if (!in || !entries || !n)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_checkpoint_list: NULL argument");
    try {
        Checkpoint ck;
        open_checkpoint(ck, in);
        EntryArray arr(ck.entries.size());
        for (const Entry &e : ck.entries)
            fill_entry(arr.p[arr.n++], e.key, e.t.size, e.t.dtype);
        if (container)
            std::snprintf(container, 32, "%s", ck.container.c_str());
        *n = arr.n;
        *entries = arr.release();
        return DDAD_OK;
    } catch (...) {
        return fail_current("listing the checkpoint", in);
    }
}

ddad_status_t ddad_import_expected(ddad_import_kind_t kind, ddad_checkpoint_entry_t **entries, size_t *n,
                                   size_t *n_required)
{
    if (!entries || !n)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_import_expected: NULL argument");
    try {
        Layout L = layout_of(kind);
        EntryArray arr(L.required.size() + L.optional.size());
        for (const auto *v : {&L.required, &L.optional})
            for (const Spec &s : *v)
                fill_entry(arr.p[arr.n++], s.key, s.shape, at::kFloat);
        if (n_required)
            *n_required = L.required.size();
        *n = arr.n;
        *entries = arr.release();
        return DDAD_OK;
    } catch (...) {
        return fail_current("building the expected layout", ddad_import_kind_str(kind));
    }
}

ddad_status_t ddad_import_guess_kind(const ddad_checkpoint_entry_t *entries, size_t n, ddad_import_kind_t *kind)
{
    if ((!entries && n) || !kind)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_import_guess_kind: NULL argument");
    try {
        std::vector<Entry> es(n);
        for (size_t i = 0; i < n; i++) {
            es[i].key = entries[i].key ? entries[i].key : "";
            es[i].t.size.assign(entries[i].shape, entries[i].shape + entries[i].ndim);
        }
        *kind = guess(es);
        return DDAD_OK;
    } catch (...) {
        return fail_current("guessing the kind", "checkpoint listing");
    }
}

ddad_status_t ddad_import_checkpoint(const char *in, const char *out, ddad_import_kind_t kind,
                                     ddad_import_report_t *report)
{
    if (!in || !out)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_import_checkpoint: NULL path");
    if (kind < DDAD_IMPORT_AUTO || kind > DDAD_IMPORT_WRN50_2)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_import_checkpoint: unknown kind %d", (int)kind);
    std::string tmp = std::string(out) + ".tmp";
    ddad_h5_t *f = nullptr;
    const char *where = in;
    try {
        Checkpoint ck;
        open_checkpoint(ck, in);
        if (kind == DDAD_IMPORT_AUTO)
            kind = guess(ck.entries);
        validate(ck.entries, kind);

        ddad_import_report_t rep;
        std::memset(&rep, 0, sizeof rep);
        rep.kind = kind;
        std::snprintf(rep.container, sizeof rep.container, "%s", ck.container.c_str());
        rep.n_read = ck.entries.size();
        std::string dropped_keys;
        for (const Entry &e : ck.entries) {
            if (dropped(kind, e.key)) {
                if (!ends_with(e.key, ".num_batches_tracked"))
                    dropped_keys += (dropped_keys.empty() ? "" : ",") + e.key;
                rep.n_dropped++;
            } else if (!is_float_dtype(e.t.dtype)) {
                data_error("key '" + e.key + "' holds " + dtype_name(e.t.dtype) +
                           " values; only floating-point tensors are imported");
            }
        }

        where = out;
        h5_check(ddad_h5_open(&f, tmp.c_str(), DDAD_H5_CREATE));
        for (const Entry &e : ck.entries) {
            if (dropped(kind, e.key))
                continue;
            where = in;
            at::Tensor t = read_f32(ck, e);
            where = out;
            std::string name = "weights/" + e.key;
            h5_check(ddad_h5_write(f, name.c_str(), DDAD_H5_F32, t.data_ptr<float>(), e.t.size.data(),
                                   (int)e.t.size.size(), 0));
            rep.n_written++;
            rep.n_params += e.numel();
        }
        h5_check(ddad_h5_set_attr_str(f, "/", "format", DDAD_IMPORT_FORMAT));
        h5_check(ddad_h5_set_attr_i64(f, "/", "format_version", DDAD_IMPORT_FORMAT_VERSION));
        h5_check(ddad_h5_set_attr_str(f, "/", "kind", ddad_import_kind_str(kind)));
        h5_check(ddad_h5_set_attr_str(f, "/", "source", base_name(in).c_str()));
        h5_check(ddad_h5_set_attr_str(f, "/", "container", ck.container.c_str()));
        h5_check(ddad_h5_set_attr_str(f, "/", "dropped", dropped_keys.c_str()));
        h5_check(ddad_h5_set_attr_i64(f, "/", "n_tensors", (int64_t)rep.n_written));
        h5_check(ddad_h5_set_attr_i64(f, "/", "n_parameters", rep.n_params));
        h5_check(ddad_h5_set_attr_str(f, "/", "ddad_version", DDAD_VERSION " (" DDAD_GIT_REVISION ")"));
        ddad_h5_t *g = f;
        f = nullptr;
        h5_check(ddad_h5_close(g));
        if (std::rename(tmp.c_str(), out) != 0)
            throw ImportError(DDAD_STATUS_IO, std::string("cannot rename ") + tmp + " to it: " + std::strerror(errno));
        if (report)
            *report = rep;
        return DDAD_OK;
    } catch (...) {
        ddad_status_t st = fail_current("importing", where);
        if (f)
            ddad_h5_close(f);
        std::remove(tmp.c_str());
        return st;
    }
}

} // extern "C"
