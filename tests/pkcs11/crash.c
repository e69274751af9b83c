/* A PKCS#11 provider for the tests that crashes when asked to sign: SoftHSM2's own function
 * list with C_Sign replaced by one that calls abort(), as a buggy vendor library might.
 * Everything else (slots, login, keys) is SoftHSM2's. Built by the test harness with
 * `cc -shared -fPIC` (tests/src/harness/crash.rs); self-contained, no PKCS#11 headers. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#ifndef REAL_MODULE
#define REAL_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

typedef unsigned long CK_RV;
typedef unsigned long CK_ULONG;
typedef void (*CK_FUNCTION)(void);

#define CKR_OK 0UL
#define CKR_GENERAL_ERROR 5UL
#define CKR_ARGUMENTS_BAD 7UL

/* CK_FUNCTION_LIST of PKCS#11 2.40: a CK_VERSION, then 68 function pointers in the
 * standard's order; C_GetFunctionList is the 4th (index 3), C_Sign the 44th (index 43:
 * ... C_DigestFinal 41, C_SignInit 42, C_Sign 43). */
#define FUNCTIONS 68
#define INDEX_GET_FUNCTION_LIST 3
#define INDEX_SIGN 43

struct function_list {
    unsigned char major, minor;
    CK_FUNCTION functions[FUNCTIONS];
};

static struct function_list list;

static CK_RV crash_sign(CK_ULONG session, unsigned char *data, CK_ULONG length,
                        unsigned char *signature, CK_ULONG *signature_length)
{
    (void)session, (void)data, (void)length, (void)signature, (void)signature_length;
    abort();
}

CK_RV C_GetFunctionList(struct function_list **out)
{
    if (out == NULL)
        return CKR_ARGUMENTS_BAD;
    void *real = dlopen(REAL_MODULE, RTLD_NOW | RTLD_LOCAL);
    if (real == NULL)
        return CKR_GENERAL_ERROR;
    CK_RV (*get)(struct function_list **);
    *(void **)&get = dlsym(real, "C_GetFunctionList");
    if (get == NULL)
        return CKR_GENERAL_ERROR;
    struct function_list *theirs = NULL;
    CK_RV rv = get(&theirs);
    if (rv != CKR_OK)
        return rv;
    memcpy(&list, theirs, sizeof list);
    list.functions[INDEX_GET_FUNCTION_LIST] = (CK_FUNCTION)C_GetFunctionList;
    list.functions[INDEX_SIGN] = (CK_FUNCTION)crash_sign;
    *out = &list;
    return CKR_OK;
}
