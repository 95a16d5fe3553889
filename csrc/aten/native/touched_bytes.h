// Which bytes a host op touches, for the host-op counters (host_ops.h). The host fallback
// (fallback.cpp) charges an op for the tensor bytes it reads and writes; for two kinds of op
// that is less than the byte size of its tensor arguments:
//  * gather ops read from their source one element per output element, not the whole source
//    (an embedding lookup reads the rows it looks up, not the table);
//  * ops that only return views of their arguments read and write nothing.
#pragma once

#include <ATen/core/function_schema.h>

namespace photonic {

// The position, among the schema's arguments, of the tensor a gather op copies elements from,
// or -1 when the op is not a gather op. The host reads (output elements) x (element size of
// that source) bytes of it; every other tensor argument (the indices) is read in full.
int gathered_source_argument(const c10::FunctionSchema& schema);

// Whether, by its schema, the op may return nothing but views of its arguments and writes no
// argument: every result carries an alias annotation and none is a write. An annotation says
// "may alias" (aten::contiguous returns a copy when it has to), so the fallback also checks
// that each returned tensor does share storage with an argument.
bool may_return_only_views(const c10::FunctionSchema& schema);

}  // namespace photonic
