// mml_dlpack.hpp: mml.hpp with the DLPack overloads of MultiMarginLoss's forward, backward and
// forward_backward (const DLTensor& / DLTensor&, over mml_forward_dlpack etc. in mml_dlpack.h).
//
//     #include <mml_dlpack.hpp>   // instead of <mml.hpp>; needs <dlpack/dlpack.h>
//                                 // (Debian: libdlpack-dev; or the copy PyTorch, TVM... ship)
//
// Include it before any <mml.hpp> in the translation unit (or instead of it): the overloads are
// members of the class, which mml.hpp defines once.

#ifndef MML_DLPACK_HPP
#define MML_DLPACK_HPP

#if defined(MML_HPP) && !defined(MML_HPP_DLPACK)
#error "include <mml_dlpack.hpp> before <mml.hpp> (or instead of it): mml.hpp was already included without the DLPack overloads"
#endif

#define MML_HPP_DLPACK 1
#include <mml.hpp>

#endif  // MML_DLPACK_HPP
