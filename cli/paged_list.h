// Walking a paged list rpc of the local API (ListDisclosures,
// ListApprovals, ListNotifications: page_size, page_token,
// next_page_token) up to a limit, so that each list command only says what
// to do with one item.
//
// Thread safety: a function template; reentrant.
#ifndef SCHAKEL_CLI_PAGED_LIST_H_
#define SCHAKEL_CLI_PAGED_LIST_H_

#include <grpcpp/support/status.h>

#include <algorithm>
#include <cstdint>

namespace schakel::cli {

// Asks for page after page with `page(request, &response)` (a
// grpc::Status), calling `each(item)` for every item of `items(response)`,
// at most `limit` (0: all), pages of at most 1,000. Returns the first failed
// page's status (items before it were handed to `each`), else OK.
template <typename Response, typename Request, typename Page, typename Items, typename Each>
grpc::Status ForEachPage(Request request, uint32_t limit, Page page, Items items, Each each) {
  uint32_t count = 0;
  do {
    const uint32_t left = limit > 0 ? limit - count : 0;
    request.set_page_size(std::min<uint32_t>(left, 1000));
    Response response;
    const grpc::Status status = page(request, &response);
    if (!status.ok()) return status;
    for (const auto& item : items(response)) {
      if (limit > 0 && count >= limit) break;
      ++count;
      each(item);
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty() && (limit == 0 || count < limit));
  return grpc::Status::OK;
}

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_PAGED_LIST_H_
