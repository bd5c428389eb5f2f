#include "runtime/messages.hpp"

#include "runtime/error.hpp"

namespace tandem {

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<group_task>("tandem.group_task");
  cfg.add_message_type<generate_request>("tandem.generate_request");
  cfg.add_message_type<completion_record>("tandem.completion_record");
  cfg.add_message_type<rollout_group>("tandem.rollout_group");
  cfg.add_message_type<generate_result>("tandem.generate_result");
  cfg.add_message_type<scored_group>("tandem.scored_group");
  cfg.add_message_type<train_batch>("tandem.train_batch");
  cfg.add_message_type<step_metrics>("tandem.step_metrics");
  cfg.add_message_type<train_report>("tandem.train_report");
  cfg.add_message_type<weights_chunk>("tandem.weights_chunk");
  cfg.add_message_type<sampler_hello>("tandem.sampler_hello");
  cfg.add_message_type<data_plane_info>("tandem.data_plane_info");
  cfg.add_message_type<nccl_open>("tandem.nccl_open");
  cfg.add_message_type<group_ref>("tandem.group_ref");
  cfg.add_message_type<learner_snapshot>("tandem.learner_snapshot");
  cfg.add_message_type<journal_step>("tandem.journal_step");
  cfg.add_message_type<journal_finish>("tandem.journal_finish");
  cfg.add_message_type<checkpoint_blob>("tandem.checkpoint_blob");
  cfg.add_message_type<checkpoint_write>("tandem.checkpoint_write");
  cfg.add_message_type<nccl::version_header>("tandem.version_header");
  cfg.add_message_type<queue_depth>("tandem.queue_depth");
  cfg.add_message_type<actor_report>("tandem.actor_report");
  cfg.add_message_type<health_beat>("tandem.health_beat");
  cfg.add_error_category(error_category, [](uint8_t code, caf::atom_value,
                                            const caf::message& ctx) {
    std::string out = to_string(static_cast<errc>(code));
    if (ctx.size() == 1 && ctx.match_element<std::string>(0))
      out += ": " + ctx.get_as<std::string>(0);
    return out;
  });
}

} // namespace tandem
