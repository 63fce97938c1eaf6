/* Slow test (ctest label "slow"): ddad-import on a full-size checkpoint in the
 * layout of OpenAI's 256x256_diffusion.pt (adm256_keys.txt section B: 567
 * tensors, 553,838,086 parameters, 2.2 GB), saved by python's torch.save as
 * an OrderedDict; the kind is guessed, label_emb.weight is dropped and every
 * other value must come back exactly (h5py/numpy against torch.load). */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

static const char *k_py =
    "import sys, os, collections, torch, h5py, numpy as np\n"
    "d, fx, mode = sys.argv[1:4]\n"
    "if mode == 'make':\n"
    "    g = torch.Generator().manual_seed(1)\n"
    "    sd = collections.OrderedDict(); sec = False\n"
    "    for line in open(fx + '/adm256_keys.txt'):\n"
    "        if line.startswith('[B]'): sec = True; continue\n"
    "        if line.startswith('[C]'): break\n"
    "        if sec and '\\t' in line:\n"
    "            k, s = line.rstrip('\\n').split('\\t')\n"
    "            sd[k] = torch.empty(*[int(x) for x in s.split('x')]).normal_(generator=g)\n"
    "    assert len(sd) == 567 and sum(t.numel() for t in sd.values()) == 553838086\n"
    "    torch.save(sd, d + '/256x256_diffusion.pt')\n"
    "    sys.exit(0)\n"
    "sd = torch.load(d + '/256x256_diffusion.pt', map_location='cpu')\n"
    "with h5py.File(d + '/adm256.h5', 'r') as h:\n"
    "    w = h['weights']; n = 0\n"
    "    assert 'label_emb.weight' not in w\n"
    "    for k, t in sd.items():\n"
    "        if k == 'label_emb.weight': continue\n"
    "        x = w[k]; assert x.dtype == np.float32 and x.shape == tuple(t.shape), k\n"
    "        assert np.array_equal(x[()], t.numpy()), 'values of %s differ' % k\n"
    "        n += 1\n"
    "    a = h.attrs; s = lambda v: v.decode() if isinstance(v, bytes) else str(v)\n"
    "    assert n == 566 and int(a['n_tensors']) == 566, n\n"
    "    assert int(a['n_parameters']) == 553838086 - 1000 * 1024, int(a['n_parameters'])\n"
    "    assert s(a['kind']) == 'adm256' and s(a['dropped']) == 'label_emb.weight', dict(a)\n"
    "print('adm256: 566 tensors equal')\n";

static void test_adm256_full(void)
{
    CU_ASSERT_FATAL(ddad_test_python_has("torch,h5py,numpy"));
    char *dir = ddad_test_mkdtemp("import-adm256");
    CU_ASSERT_FATAL(dir != NULL);
    char py[1024];
    snprintf(py, sizeof py, "%s/check.py", dir);
    FILE *f = fopen(py, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(k_py, f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(ddad_test_system("'%s' '%s' '%s' '%s' make", ddad_test_python(), py, dir,
                                           ddad_test_fixtures_dir()),
                          0);
    CU_ASSERT_EQUAL(ddad_test_system("cd '%s' && '%s/ddad-import' 256x256_diffusion.pt adm256.h5 >log 2>&1 && "
                                     "grep -q 'adm256 checkpoint, 567 tensors read, 1 dropped' log",
                                     dir, ddad_test_bin_dir()),
                    0);
    CU_ASSERT_EQUAL(ddad_test_system("'%s' '%s' '%s' '%s' check", ddad_test_python(), py, dir,
                                     ddad_test_fixtures_dir()),
                    0);
    ddad_test_rmtree(dir);
    free(dir);
}

int main(void)
{
    static const ddad_test_t tests[] = {{"full-size 256x256_diffusion layout", test_adm256_full}, {0}};
    return ddad_test_main("torch import adm256 (slow)", tests);
}
